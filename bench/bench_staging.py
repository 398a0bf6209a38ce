"""Staging baseline training throughput: samples/s, epoch time, peak memory.

Trains on in-memory synthetic volumes ``[C, X, Y, Z]`` through the real training loop
(:func:`hepatokit.baselines.train_staging`: DataLoader, class-weighted loss, AdamW + cosine,
autocast + channels_last_3d on CUDA, validation, checkpoint per epoch) and compares its
samples/s with a bare forward+backward+step loop on one pre-loaded batch (reference: the
model's own speed; ratio = what feeding the batches and the loop cost). ``--cache DTYPE``
feeds training from the preprocessed-grid cache (memory-mapped, prefetch thread, pinned
memory on CUDA, dequantised on the device); ``--rounds`` alternates bare and loop runs and
keeps the best of each (the machine's load hits both alike).

    python bench/bench_staging.py --device cpu --config tiny --cache uint8 --threads 1
    python bench/bench_staging.py --device cpu --grid 128 128 80 --batch-size 4 --n 32 \
        --cache uint8 --workers 1 --feed-only      # the batches alone, full-size volumes
    python bench/bench_staging.py --device cuda --config full --model resnet3d --n 64 --epochs 2
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Volumes:
    def __init__(self, n: int, channels: int, grid: tuple[int, ...], seed: int = 0) -> None:
        import torch

        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, 4, size=n)
        self.x = torch.from_numpy(rng.normal(size=(n, channels, *grid)).astype(np.float32))
        self.x += torch.from_numpy(self.labels.astype(np.float32))[:, None, None, None, None]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.x[i], int(self.labels[i])


def bare_step(model_name, cfg, channels, plan, steps: int = 5, segments: int = 1) -> float:
    """Best samples/s over ``segments`` runs of ``steps`` forward+backward+AdamW steps on
    one batch already on the device (after one warm-up step)."""
    import torch

    from hepatokit.baselines.staging_models import build_staging_model

    model = build_staging_model(model_name, in_channels=channels, n_classes=4, config=cfg)
    model.to(plan.torch_device()).train()
    if plan.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(cfg.batch_size, channels, *cfg.grid, device=plan.torch_device())
    if plan.channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    y = torch.randint(0, 4, (cfg.batch_size,), device=plan.torch_device())
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        opt.zero_grad()
        with plan.autocast():
            out = model(x)
        loss_fn(out.float(), y).backward()
        opt.step()

    step()
    best = 0.0
    for _ in range(segments):
        if plan.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        if plan.is_cuda:
            torch.cuda.synchronize()
        best = max(best, steps * cfg.batch_size / (time.perf_counter() - t0))
    return best


def loop_rate(train, val, args, cfg, plan) -> tuple[float, float, list]:
    """The training loop's best train-phase samples/s over the epochs after the first, the
    wall time per epoch (with validation + checkpoint) and the history."""
    from hepatokit.baselines.staging import train_staging

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = train_staging(train, val, model_name=args.model, config=cfg, out_dir=tmp,
                            in_channels=args.channels, plan=plan, seed=0)  # fmt: skip
        wall = time.perf_counter() - t0
    rates = [h["samples_per_second"] for h in run.history[1:] or run.history]
    return max(rates), wall / len(run.history), run.history


def cached(train, val, cfg, args, folder):
    """The datasets through a grid cache in ``folder``: (train, val, build s, re-open s)."""
    from hepatokit.baselines.grid_cache import GridCache, cache_volumes

    params = {"grid": list(cfg.grid), "bench": "synthetic"}
    t0 = time.perf_counter()
    c = GridCache(folder, dtype=args.cache, params=params)
    ct, cv = cache_volumes(train, c), cache_volumes(val, c)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    c = GridCache(folder, dtype=args.cache, params=params)
    ct, cv = cache_volumes(train, c), cache_volumes(val, c)
    assert c.misses == 0
    return ct, cv, build, time.perf_counter() - t0


def feed_rate(ds, cfg, plan, workers: int) -> float:
    """Samples/s of the batches alone (no model): what the feeding can sustain."""
    import torch

    from hepatokit.baselines.staging_feed import device_batches

    t0 = time.perf_counter()
    n = 0
    for x, _ in device_batches(ds, batch_size=cfg.batch_size, num_workers=workers, plan=plan,
                               shuffle=True, seed=n):  # fmt: skip
        n += len(x)
    if plan.is_cuda:
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def gather_rate(ds, cfg) -> float:
    """Samples/s of the host side of the cached GPU path: the memory-mapped gather alone."""
    from hepatokit.baselines.staging_feed import batch_order

    t0 = time.perf_counter()
    order = batch_order(len(ds), cfg.batch_size, shuffle=True, seed=0)
    for b in order:
        ds.gather(b)
    return len(ds) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--model", default="resnet3d", choices=["resnet3d", "vit3d"])
    ap.add_argument("--config", default="tiny", choices=["tiny", "full"])
    ap.add_argument("--channels", type=int, default=7)
    ap.add_argument("--n", type=int, default=64, help="training volumes")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--grid", type=int, nargs=3, default=None,
                    help="voxel grid override (e.g. 128 128 80 with the tiny model)")  # fmt: skip
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--cache", default="off", choices=["off", "float32", "float16", "uint8"],
                    help="feed training from the grid cache in this dtype")  # fmt: skip
    ap.add_argument("--augment", action="store_true", help="device augmentation on")
    ap.add_argument("--feed-only", action="store_true",
                    help="time the batches alone (cached vs uncached), no model")  # fmt: skip
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating bare/loop rounds; best of each")  # fmt: skip
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from hepatokit.baselines.devices import select_device
    from hepatokit.baselines.staging_config import (
        StagingSection,
        baselines_section,
        with_overrides,
    )
    from hepatokit.baselines.staging_models import build_staging_model, count_parameters
    from hepatokit.recipe import load_recipe

    sec: StagingSection = baselines_section(load_recipe("lifs")).staging
    cfg = with_overrides(
        sec.tiny if args.config == "tiny" else sec.full,
        epochs=args.epochs,
        batch_size=args.batch_size,
        grid=tuple(args.grid) if args.grid else None,
        num_workers=args.workers,
        cache=args.cache,
        augment=args.augment or None,
    )
    plan = select_device(args.device, amp=args.amp)
    train = Volumes(args.n, args.channels, cfg.grid, seed=0)
    val = Volumes(max(8, args.n // 4), args.channels, cfg.grid, seed=1)
    n_params = count_parameters(
        build_staging_model(args.model, in_channels=args.channels, n_classes=4, config=cfg)
    )
    plain_train, plain_val = train, val
    with tempfile.TemporaryDirectory() as cache_dir:
        if args.cache != "off":
            train, val, build_s, reopen_s = cached(train, val, cfg, args, cache_dir)
        if args.feed_only:
            cached_rates, plain_rates, gathers = [], [], []
            for _ in range(args.rounds):
                gathers.append(gather_rate(train, cfg))
                cached_rates.append(feed_rate(train, cfg, plan, 0))
                plain_rates.append(feed_rate(plain_train, cfg, plan, args.workers))
            print(f"grid {cfg.grid}, {args.channels} channels, batch {cfg.batch_size}: feeding "
                  f"from the {args.cache} cache {max(cached_rates):.1f} samples/s, through a "
                  f"DataLoader ({args.workers} workers, float32) {max(plain_rates):.1f} "
                  f"samples/s (best of {args.rounds}); cache built in {build_s:.1f} s; "
                  f"host gather alone {max(gathers):.1f} samples/s")  # fmt: skip
            return
        bares, loops, plains = [], [], []
        for _ in range(args.rounds):  # alternating: load changes hit both alike
            # as many steps as an epoch, as many segments as the loop's timed epochs
            steps = max(5, -(-args.n // cfg.batch_size))
            segments = max(1, args.epochs - 1)
            bares.append(bare_step(args.model, cfg, args.channels, plan, steps, segments))
            sps, epoch_wall, history = loop_rate(train, val, args, cfg, plan)
            loops.append(sps)
            if args.cache != "off":  # the uncached loop in the same round, for comparison
                off = with_overrides(cfg, cache="off")
                plains.append(loop_rate(plain_train, plain_val, args, off, plan)[0])
    ref, sps = max(bares), max(loops)
    paired = [lo / b for lo, b in zip(loops, bares, strict=True)]
    last = history[-1]
    epoch_s = float(np.mean([h["epoch_seconds"] for h in history]))
    print(
        f"device            {plan.device} (amp={plan.amp} {plan.amp_dtype}, "
        f"channels_last={plan.channels_last}, threads={torch.get_num_threads()})"
    )
    print(
        f"model             {args.model} ({n_params / 1e6:.2f} M params), config {args.config}: "
        f"grid {cfg.grid}, {args.channels} channels, batch {cfg.batch_size}, "
        f"cache {args.cache}, augment {cfg.augment}"
    )
    if args.cache != "off":
        print(
            f"grid cache        built in {build_s:.2f} s, re-opened (all hits) in {reopen_s:.3f} s"
        )
    print(f"bare step         {ref:10.2f} samples/s (forward+backward+AdamW, one batch, best "
          f"segment of an epoch's steps; "
          f"rounds {', '.join(f'{b:.1f}' for b in bares)})")  # fmt: skip
    print(f"training loop     {sps:10.2f} samples/s (train phase; "
          f"rounds {', '.join(f'{b:.1f}' for b in loops)})")  # fmt: skip
    print(f"ratio loop/bare   {sps / ref:10.3f}  (best of {args.rounds} alternating rounds; "
          f"per round median {np.median(paired):.3f}, max {max(paired):.3f})")  # fmt: skip
    if plains:
        p_paired = [lo / b for lo, b in zip(plains, bares, strict=True)]
        print(f"uncached loop     {max(plains):10.2f} samples/s, ratio {max(plains) / ref:.3f} "
              f"(per round median {np.median(p_paired):.3f}; same rounds, DataLoader with "
              f"{args.workers} workers on float32 volumes)")  # fmt: skip
    print(
        f"epoch time        {epoch_s:10.2f} s train, "
        f"{epoch_wall:.2f} s with validation + checkpoint ({args.n} volumes)"
    )
    peak = last["peak_memory_bytes"] / 2**20
    print(f"peak memory       {peak:10.1f} MiB ({'device' if plan.is_cuda else 'host RSS'})")


if __name__ == "__main__":
    main()
