"""Stage ``series``: group instances into series and recognise each one's sequence
(``rules``: the recipe's naming and contrast-timing rules; ``stage``: grouping, splitting,
evidence).
"""
