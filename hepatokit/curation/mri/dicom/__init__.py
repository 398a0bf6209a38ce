"""DICOM header reading shared by the MRI stages (``tags``: which tags, read how, and whether
the file is an image to keep; ``columns``: a kept image's index columns from its elements;
``values``: typed values such as b-values, field strength, timing).
"""
