"""Stage ``labels``: join the clinical label table to the curated subjects (the subjects
table's schema is the build contract's, :data:`hepatokit.contracts.lifs.SUBJECTS_SCHEMA`).
"""
