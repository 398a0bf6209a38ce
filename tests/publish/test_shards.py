"""Shard planning and writing: size caps, order, determinism."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hepatokit.publish.shards import EmbeddedFile, plan_shards, plan_split, write_shards


@given(st.lists(st.integers(1, 1000), max_size=60), st.integers(1, 3000))
@settings(max_examples=200, deadline=None)
def test_plan_keeps_order_and_cap(sizes, cap):
    plan = plan_shards(sizes, cap)
    assert [i for shard in plan for i in shard] == list(range(len(sizes)))
    assert plan and all(plan[1:])  # only an empty input gives an empty shard
    for shard in plan:
        total = sum(sizes[i] for i in shard)
        assert total <= cap or len(shard) == 1


def test_small_cap_gives_several_identical_shards(tmp_path):
    from datasets import Features, Image, Value

    files = []
    for i in range(7):
        f = tmp_path / f"{i}.bin"
        f.write_bytes(bytes([i]) * (3000 + i))
        files.append(f)
    schema = Features({"id": Value("string"), "image": Image()}).arrow_schema
    rows = [{"id": str(i), "image": EmbeddedFile(str(f), f"{i}.png")} for i, f in enumerate(files)]

    def run(folder):
        tasks = plan_split(
            rows,
            folder=folder,
            split="train",
            schema=schema,
            embedded_columns=["image"],
            max_shard_bytes=8000,
            row_group_bytes=4000,
            row_group_max_rows=100,
        )
        return write_shards(tasks, workers=1)

    a, b = run(tmp_path / "a"), run(tmp_path / "b")
    assert [r.num_rows for r in a] == [2, 2, 2, 1]
    assert [r.sha256 for r in a] == [r.sha256 for r in b]
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == [f"train-{i:05d}-of-00004.parquet" for i in range(4)]
    import pyarrow.parquet as pq

    first = pq.ParquetFile(tmp_path / "a" / names[0])
    assert first.metadata.num_row_groups == 2  # 4000-byte row groups
    cell = first.read().to_pylist()[0]["image"]
    assert cell == {"bytes": files[0].read_bytes(), "path": "0.png"}
