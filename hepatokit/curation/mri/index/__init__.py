"""Stage ``index``: walk the raw DICOM tree, read each header once, write ``instances.parquet``
(``stage``: the stage; ``records``: one header → one row, run in the worker processes).
"""
