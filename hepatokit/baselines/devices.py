"""Device and mixed-precision selection shared by the staging and probe baselines.

One :class:`DevicePlan` says where a model runs and how: the device, whether autocast is on
and with which dtype, whether tensors go channels-last, whether loader batches are pinned.
On CUDA the defaults are the fast path (bf16 autocast where supported, else fp16 with a
gradient scaler; channels-last; pinned memory). On CPU everything is off by default, but
``amp=True`` turns on ``torch.autocast("cpu", dtype=torch.bfloat16)`` so the mixed-precision
code path can be exercised without a GPU.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from hepatokit.errors import DependencyMissingError

if TYPE_CHECKING:
    import torch

__all__ = [
    "DevicePlan",
    "cpu_threads",
    "peak_memory_bytes",
    "reset_peak_memory",
    "select_device",
]

log = logging.getLogger("hepatokit.baselines.devices")

AmpDtype = Literal["bfloat16", "float16"]


@dataclass(frozen=True)
class DevicePlan:
    """Where and how a model runs.

    Attributes
    ----------
    device:
        A torch device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
    amp:
        Run forward passes under :func:`torch.autocast`.
    amp_dtype:
        The autocast dtype (``"bfloat16"`` or ``"float16"``; fp16 needs a gradient scaler).
    channels_last:
        Convert models and batches to channels-last (``channels_last_3d`` for volumes).
    pin_memory:
        Ask DataLoaders for pinned host memory (faster, asynchronous host→GPU copies).
    """

    device: str = "cpu"
    amp: bool = False
    amp_dtype: AmpDtype = "bfloat16"
    channels_last: bool = False
    pin_memory: bool = False

    @property
    def device_type(self) -> str:
        """``"cuda"`` or ``"cpu"`` (the autocast device type)."""
        return self.device.split(":", 1)[0]

    @property
    def is_cuda(self) -> bool:
        return self.device_type == "cuda"

    def torch_device(self) -> torch.device:
        import torch

        return torch.device(self.device)

    def torch_amp_dtype(self) -> torch.dtype:
        import torch

        return torch.bfloat16 if self.amp_dtype == "bfloat16" else torch.float16

    @property
    def needs_grad_scaler(self) -> bool:
        """fp16 autocast on CUDA needs loss scaling; bf16 does not."""
        return self.amp and self.is_cuda and self.amp_dtype == "float16"

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast context for forward passes (a no-op when ``amp`` is off)."""
        if not self.amp:
            yield
            return
        import torch

        with torch.autocast(self.device_type, dtype=self.torch_amp_dtype()):
            yield

    def memory_format(self, ndim: int) -> Any:
        """The torch memory format for a batch of ``ndim`` dims (4: images, 5: volumes)."""
        import torch

        if not self.channels_last:
            return torch.contiguous_format
        return torch.channels_last_3d if ndim == 5 else torch.channels_last

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description (for run records)."""
        return {
            "device": self.device,
            "amp": self.amp,
            "amp_dtype": self.amp_dtype if self.amp else None,
            "channels_last": self.channels_last,
            "pin_memory": self.pin_memory,
        }


def select_device(
    requested: str = "auto",
    *,
    amp: bool | None = None,
    amp_dtype: AmpDtype | None = None,
    channels_last: bool | None = None,
) -> DevicePlan:
    """Choose the device and precision settings.

    Parameters
    ----------
    requested:
        ``"auto"`` (CUDA if available, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
    amp, amp_dtype, channels_last:
        Override the defaults (CUDA: amp on, bf16 where supported else fp16, channels-last
        on; CPU: all off; ``amp=True`` on CPU means bf16 CPU autocast).

    Raises
    ------
    DependencyMissingError
        CUDA was asked for but torch sees no CUDA device.
    """
    import torch

    req = requested.strip().lower()
    if req == "auto":
        req = "cuda" if torch.cuda.is_available() else "cpu"
    if req.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DependencyMissingError(
                f"device {requested!r} asked for, but torch {torch.__version__} sees no CUDA GPU",
                hint="run with --device cpu, or install a CUDA build of torch on a GPU machine",
            )
        bf16_ok = torch.cuda.is_bf16_supported()
        dtype: AmpDtype = amp_dtype or ("bfloat16" if bf16_ok else "float16")
        plan = DevicePlan(
            device=req,
            amp=True if amp is None else amp,
            amp_dtype=dtype,
            channels_last=True if channels_last is None else channels_last,
            pin_memory=True,
        )
    elif req == "cpu":
        plan = DevicePlan(
            device="cpu",
            amp=bool(amp),
            amp_dtype=amp_dtype or "bfloat16",
            channels_last=bool(channels_last),
            pin_memory=False,
        )
    else:
        raise DependencyMissingError(
            f"unknown device {requested!r}", hint="use auto, cpu, cuda or cuda:N"
        )
    log.debug("device plan: %s", plan.describe())
    return plan


def reset_peak_memory(plan: DevicePlan) -> None:
    """Reset the CUDA peak-memory counter (no-op on CPU)."""
    if plan.is_cuda:
        import torch

        torch.cuda.reset_peak_memory_stats(plan.torch_device())


def peak_memory_bytes(plan: DevicePlan) -> int | None:
    """Peak allocated bytes on the device since the last reset (CPU: the process' peak RSS)."""
    if plan.is_cuda:
        import torch

        return int(torch.cuda.max_memory_allocated(plan.torch_device()))
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except (ImportError, OSError):  # pragma: no cover - non-POSIX
        return None


@contextlib.contextmanager
def cpu_threads(plan: DevicePlan, threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch intra-op threads on CPU (0: leave as is).

    Tiny models gain nothing from intra-op parallelism and lose a lot to thread start-up
    and, on a busy machine, to oversubscription (measured 20× on 2 shared cores).
    """
    if plan.is_cuda or threads <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def loader_workers(requested: int) -> int:
    """DataLoader worker processes for a recipe's ``requested`` number: at most the usable
    CPUs less one (the main process feeds the model), so 2 cores get 1 worker, 1 core none."""
    from hepatokit.parallel import default_workers

    return max(0, min(requested, default_workers() - 1))
