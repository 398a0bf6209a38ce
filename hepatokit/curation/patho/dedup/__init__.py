"""Stage ``dedup``: exact (MD5 / pixel SHA-256) and near-duplicate decisions (``exact``),
the multi-index Hamming search (``near``), the stage (``stage``) and radius calibration
(``calibrate``).
"""
