"""Stage ``ingest``: discover patch files, decode each once, write ``patches.parquet``
(``cache``: per-file results reused when a file is unchanged).
"""
