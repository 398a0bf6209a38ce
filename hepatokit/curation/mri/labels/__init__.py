"""Stage ``labels``: join the clinical label table to the curated subjects (``subjects``:
the subjects table written once).
"""
