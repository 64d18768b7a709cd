"""Flush subnormal floats to zero while training, as `torch.set_flush_denormal(True)` does.

A float below the smallest normal one (float32: 1.2e-38) is "subnormal", and the CPU computes
with it on a slow path, ~100x slower. Training makes them: an Adam moment whose gradient is
0 decays by beta each step through the subnormal range, a tiny gradient times a tiny slope
lands there. A default run's epochs grew from 1.9 s to 3.4 s by epoch 21 (docs/performance-run.md).
On x86-64 the CPU can flush them to 0 (the MXCSR register's FTZ and DAZ bits, per thread),
which changes only values that small. NumPy has no switch for it; glibc's fegetenv/fesetenv
reach the register. Elsewhere this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Iterator
from contextlib import contextmanager

_FTZ_DAZ = 0x8040  # MXCSR bit 15: flush results to zero; bit 6: read subnormal inputs as zero
_MXCSR_OFFSET, _FENV_SIZE = 28, 32  # where glibc's x86-64 fenv_t keeps MXCSR, and its size


def _libm() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None
    name = ctypes.util.find_library("m")
    return ctypes.CDLL(name) if name else None


@contextmanager
def flush_denormals(enabled: bool = True) -> Iterator[bool]:
    """Inside the block (this thread only) subnormal floats are 0; yields whether it could be done."""
    libm = _libm() if enabled else None
    saved = ctypes.create_string_buffer(_FENV_SIZE)
    if libm is None or libm.fegetenv(saved) != 0:
        yield False
        return
    flushed = ctypes.create_string_buffer(saved.raw, _FENV_SIZE)
    mxcsr = int.from_bytes(saved.raw[_MXCSR_OFFSET:_MXCSR_OFFSET + 4], "little") | _FTZ_DAZ
    ctypes.memmove(ctypes.addressof(flushed) + _MXCSR_OFFSET, mxcsr.to_bytes(4, "little"), 4)
    libm.fesetenv(flushed)
    try:
        yield True
    finally:
        libm.fesetenv(saved)
