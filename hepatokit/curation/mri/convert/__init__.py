"""Stage ``convert``: DICOM series → NIfTI with dcm2niix (``dcm2niix``: the runner;
``sidecar``: the curated JSON sidecar; ``stage``: the stage, resumable per volume).
"""
