"""Hashing cost against the bare decode of the same patch files (per core).

    python bench/bench_patho_hashing.py ROOT [--limit N]

ROOT: a class-folder tree (e.g. ``hepatokit synth patho OUT --patches 140000``; ROOT=OUT).
Measures, in one process (one core): (1) read + decode (Pillow, to RGB), (2) read + decode +
all hashes (MD5 of bytes, SHA-256 of pixels, pHash; + dHash), (3) the full ingest analysis
(hashes + QC scores). Goal: hashing adds <= 50 % to decoding.
"""

from __future__ import annotations

import argparse
import io
import time
from pathlib import Path

from PIL import Image

from hepatokit.curation.patho.features.analysis import analyse_patch_bytes
from hepatokit.curation.patho.features.hashing import image_hashes


def _files(root: Path, limit: int) -> list[Path]:
    sub = root / "patches" if (root / "patches").is_dir() else root
    files = sorted(p for p in sub.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".tif"))
    return files[:limit]


def _decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--limit", type=int, default=5000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    blobs = []
    for p in _files(args.root, args.limit):
        data = p.read_bytes()
        try:
            _decode(data)
        except Exception:
            continue
        blobs.append(data)
    n = len(blobs)

    def best(fn) -> float:  # type: ignore[no-untyped-def]
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            for d in blobs:
                fn(d)
            times.append(time.perf_counter() - t0)
        return min(times)

    t_dec = best(_decode)
    t_hash = best(lambda d: image_hashes(_decode(d), d))
    t_hash_d = best(lambda d: image_hashes(_decode(d), d, dhash=True))
    t_full = best(lambda d: analyse_patch_bytes(d, dhash=True))
    print(f"{n} patches, one core, best of {args.repeat}")
    print(f"decode only            : {n / t_dec:8.0f} patches/s")
    print(
        f"decode + md5/sha/pHash : {n / t_hash:8.0f} patches/s  "
        f"(+{t_hash / t_dec - 1:.0%} over decode)"
    )
    print(f"decode + ... + dHash   : {n / t_hash_d:8.0f} patches/s  (+{t_hash_d / t_dec - 1:.0%})")
    print(f"full ingest analysis   : {n / t_full:8.0f} patches/s  (hashes + QC scores)")
    print(f"ratio to goal (hashing overhead / 50 %): {(t_hash / t_dec - 1) / 0.5:.2f}")


if __name__ == "__main__":
    main()
