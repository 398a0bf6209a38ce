"""Stage ``series``: group instances into series and recognise each one's sequence
(``stage``: read ``instances.parquet``, write ``series.parquet`` and the ledger; ``parts``:
grouping, splitting, recognition of each part; ``phases``: contrast phases and repeats across
a subject's parts; ``rules``: the recipe's naming rules).
"""
