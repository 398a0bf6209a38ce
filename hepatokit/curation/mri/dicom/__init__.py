"""DICOM header reading shared by the MRI stages (``tags``: which tags, read how;
``values``: typed values such as b-values, field strength, timing).
"""
