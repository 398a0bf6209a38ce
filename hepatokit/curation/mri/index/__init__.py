"""Stage ``index``: walk the raw DICOM tree, read each header once, write ``instances.parquet``
(``stage``: the stage; ``read``: listing, cache, parallel header reads; ``records``: one header
→ one row, run in the worker processes; ``decide``: ledger rules and pseudonyms, pure;
``write``: the tables and the ledger).
"""
