"""Linear-probe embedding throughput: end to end vs the encoder's forward pass alone.

End to end = what `hepatokit baseline probe` does per image: PNG bytes → decode (PIL) →
resize + normalise → DataLoader (workers, pinned memory on CUDA) → device → frozen encoder
(bf16 autocast on CUDA) → float32 host array → cache shard written. Reference = the same
encoder on preprocessed tensors already on the device (forward only). Goal: ratio ≥ 0.7 on
a GPU (issue 7).

    python bench/bench_probe_embedding.py --device cpu
    python bench/bench_probe_embedding.py --device cuda --input-size 224 --n 4096 --workers 8
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class PngImages:
    """In-memory PNG-encoded patches; items decode to PIL images (as the HF loader gives)."""

    def __init__(self, n: int, size: int, seed: int = 0) -> None:
        from PIL import Image

        rng = np.random.default_rng(seed)
        base = [rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8) for _ in range(16)]
        self.blobs = []
        for i in range(n):
            arr = np.roll(base[i % 16], i, axis=0)
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
            self.blobs.append(buf.getvalue())

    def __len__(self) -> int:
        return len(self.blobs)

    def __getitem__(self, i: int):
        from PIL import Image

        return Image.open(io.BytesIO(self.blobs[i])).convert("RGB")


def forward_only(encoder, plan, n: int, batch_size: int) -> float:
    import torch

    device = plan.torch_device()
    encoder.to(device)
    if plan.channels_last:
        encoder.model.to(memory_format=torch.channels_last)
    size = encoder.preprocess.size
    x = torch.randn(batch_size, 3, size, size, device=device)
    if plan.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    batches = max(1, n // batch_size)
    with torch.inference_mode():
        for _ in range(2):  # warm-up
            with plan.autocast():
                encoder.embed(x)
        if plan.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(batches):
            with plan.autocast():
                out = encoder.embed(x)
            out.float().cpu()
        if plan.is_cuda:
            torch.cuda.synchronize()
    return batches * batch_size / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--encoder", default="builtin:tiny-cnn")
    ap.add_argument("--input-size", type=int, default=None, help="encoder input (px)")
    ap.add_argument("--image-size", type=int, default=150, help="stored patch size (px)")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from hepatokit.baselines.devices import peak_memory_bytes, reset_peak_memory, select_device
    from hepatokit.baselines.embeddings import EmbeddingCache, embed_dataset
    from hepatokit.baselines.encoders import load_encoder

    plan = select_device(args.device, amp=args.amp)
    encoder = load_encoder(args.encoder, device=plan.device, input_size=args.input_size)
    images = PngImages(args.n, args.image_size)
    keys = [f"{i:032x}" for i in range(args.n)]
    reset_peak_memory(plan)
    ref = forward_only(encoder, plan, args.n, args.batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        from hepatokit.baselines.embeddings import embed_images

        embed_images(
            encoder,
            [images[i] for i in range(args.batch_size)],
            plan=plan,
            batch_size=args.batch_size,
        )  # warm-up
        t0 = time.perf_counter()
        res = embed_dataset(
            encoder,
            images,
            keys,
            cache=EmbeddingCache(tmp),
            plan=plan,
            batch_size=args.batch_size,
            num_workers=args.workers,
        )
        e2e = args.n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        cached = embed_dataset(
            encoder,
            images,
            keys,
            cache=EmbeddingCache(tmp),
            plan=plan,
            batch_size=args.batch_size,
            num_workers=args.workers,
        )
        cached_s = time.perf_counter() - t0
    assert res.n_computed == args.n and cached.n_computed == 0
    peak = peak_memory_bytes(plan) or 0
    print(
        f"device            {plan.device} (amp={plan.amp} {plan.amp_dtype}, "
        f"channels_last={plan.channels_last}, threads={torch.get_num_threads()})"
    )
    print(
        f"encoder           {args.encoder} ({encoder.feature_dim}-d, "
        f"input {encoder.preprocess.size} px), {args.n} images of {args.image_size} px, "
        f"batch {args.batch_size}, workers {args.workers}"
    )
    print(f"forward only      {ref:10.1f} images/s")
    print(f"end to end        {e2e:10.1f} images/s")
    print(f"ratio e2e/forward {e2e / ref:10.3f}   (goal >= 0.7 on a GPU)")
    print(
        f"cached re-run     {args.n / cached_s:10.1f} images/s ({cached.n_cached} from cache, "
        f"0 computed)"
    )
    print(
        f"peak memory       {peak / 2**20:10.1f} MiB ({'device' if plan.is_cuda else 'host RSS'})"
    )


if __name__ == "__main__":
    main()
