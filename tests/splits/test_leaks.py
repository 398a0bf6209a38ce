"""find_leaks on tables: near pairs by pHash, turned down by a disagreeing dHash."""

from __future__ import annotations

import pyarrow as pa

from hepatokit.splits import find_leaks


def test_find_leaks_on_tables():
    splits = pa.table(
        {"id": ["a", "b", "c"], "group": ["g1", "g2", "g3"], "split": ["train", "test", "test"]}
    )
    hashes = pa.table(
        {
            "id": ["a", "b", "c"],
            "md5": ["x", "y", "z"],
            "phash": ["ffff000000000000", "ffff000000000001", "0000ffffffff0000"],
        }
    )
    report = find_leaks(splits, hashes=hashes, radius=1)
    assert [(f.kind, f.items) for f in report.findings] == [("near_duplicate", ("a", "b"))]
    assert find_leaks(splits, hashes=hashes, radius=0).ok
    # a second hash that disagrees turns the pHash match down; a missing one does not
    far = hashes.append_column("dhash", pa.array(["0000000000000000", "ffffffffffffffff", None]))
    assert find_leaks(splits, hashes=far, radius=1, dhash_radius=12).ok
    assert not find_leaks(splits, hashes=far, radius=1, dhash_radius=64).ok
    unknown = hashes.append_column("dhash", pa.array([None, "ffffffffffffffff", None]))
    assert not find_leaks(splits, hashes=unknown, radius=1, dhash_radius=0).ok
