"""Stage ``ingest``: discover patch files (``discover``), read and decode each once
(``analyse``), decide the rows (``rows``, pure) and write ``patches.parquet`` and the ledger
(``stage``; ``cache``: per-file results reused when a file is unchanged).
"""
