"""Which precision a training run computes in: bf16 autocast where the hardware has it natively, fp32 elsewhere.

CPUs differ: with AMX or avx512_bf16 a bf16 matmul runs several times faster than fp32 (measured
2,370 against 301 GFLOP/s on an Intel Xeon with AMX, 2 threads), while on avx2-only CPUs bf16 is
emulated and tens of times slower. `tv2tv fit` uses `auto_precision` as the default of
`trainer.precision`; a config that names a precision keeps it.
"""

from __future__ import annotations

import torch


def native_bf16(device: str = "cpu") -> bool:
    """Whether `device` ("cpu", "cuda", "gpu") computes bf16 matmuls natively."""
    if device in ("cuda", "gpu") or device.startswith("cuda:"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def auto_precision(device: str = "cpu") -> str:
    """Lightning's precision for `device`: "bf16-mixed" where bf16 is native, else "32-true"."""
    return "bf16-mixed" if native_bf16(device) else "32-true"
