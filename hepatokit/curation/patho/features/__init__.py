"""Per-patch measurements shared by ingest, QC and dedup: the decode-once analysis
(``analysis``), perceptual hashes (``hashing``) and the feature table (``table``).
"""
