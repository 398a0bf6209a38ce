"""Stage ``qc``: volume quality control (empty / constant / geometry checks) and the
missing-modality table.
"""
