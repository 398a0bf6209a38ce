"""Stage ``qc``: patch quality scores and thresholds (``measures``), the stage
(``stage``) and threshold calibration on a build (``calibrate``).
"""
