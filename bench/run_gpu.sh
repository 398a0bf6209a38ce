#!/usr/bin/env bash
# The GPU figures of bench/RESULTS.md, in one go, on a lent CUDA machine.
#
# That machine's python3 has torch, timm, pandas, pyarrow… but not hepatokit's imaging
# packages: carry them as wheels (python 3.12) in .whl/, e.g. from the repo root here:
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux1_x86_64 \
#     -d .whl monai==1.6.1 nibabel pydicom==3.0.2 openslide-python openslide-bin
# then run `bash bench/run_gpu.sh OUTDIR` there (OUTDIR receives one log per benchmark).
set -uo pipefail
out=${1:?usage: run_gpu.sh OUTDIR}
mkdir -p "$out"
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/hk-site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/hk-site:$PWD
fi
export PYTHONUNBUFFERED=1
{
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
  nproc
} 2>&1 | tee "$out/machine.txt"

# A UNI-sized encoder (ViT-L/16, 224 px, random weights: nothing is downloaded), saved as
# TorchScript so that the probe loads it through the `torchscript:` spec.
python3 - <<'EOF' 2>&1 | tee "$out/vitl.txt"
import timm, torch
m = timm.create_model("vit_large_patch16_224", pretrained=False, num_classes=0).eval()
with torch.inference_mode():
    torch.jit.trace(m, torch.zeros(1, 3, 224, 224)).save("/tmp/vitl16.pt")
print("saved /tmp/vitl16.pt", sum(p.numel() for p in m.parameters()) / 1e6, "M params")
EOF

run() {  # name, command...
  local name=$1
  shift
  echo "\$ $*" | tee "$out/$name.txt"
  timeout 240 "$@" 2>&1 | tee -a "$out/$name.txt"
}
run probe_tiny python3 bench/bench_probe_embedding.py --device cuda --input-size 224 --n 8192 \
  --batch-size 256 --workers 8
run probe_vitl python3 bench/bench_probe_embedding.py --device cuda \
  --encoder torchscript:/tmp/vitl16.pt --input-size 224 --n 8192 --batch-size 256 --workers 8
# staging: fed from the uint8 grid cache (memory-mapped, prefetch thread, pinned, dequantised
# on the GPU) vs the bare step; each round also runs the uncached loop (8 loader workers on
# float32 volumes) for comparison. Goal: loop/bare >= 0.7 on a GPU.
run staging_resnet3d python3 bench/bench_staging.py --device cuda --config full --model resnet3d \
  --n 64 --epochs 2 --workers 8 --cache uint8 --rounds 2
run staging_vit3d python3 bench/bench_staging.py --device cuda --config full --model vit3d \
  --n 64 --epochs 2 --workers 8 --cache uint8 --rounds 2
run staging_resnet3d_aug python3 bench/bench_staging.py --device cuda --config full \
  --model resnet3d --n 64 --epochs 2 --cache float16 --augment --rounds 2
run quant python3 bench/bench_quant.py --device cuda --size 12000 9000 --batch 256
run quant_vitl python3 bench/bench_quant.py --device cuda --size 12000 9000 --batch 256 \
  --encoder torchscript:/tmp/vitl16.pt
