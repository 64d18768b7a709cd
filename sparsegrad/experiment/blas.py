"""How many BLAS threads a run's matrix products use (`trainer.blas_threads`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits

# trainer.blas_threads=auto: one BLAS thread while a step's matrix products are small, every core
# once they are big enough to share out. A product of a step is batch x input x hidden
# multiply-adds. Measured on this 2-core VM (`python scripts/bench_run.py --threads`, the step's
# time on two threads over one; docs/performance-run.md): 1.09x at 32 x 784 x 64 (1.6 M, the
# default), 0.87x at 32 x 784 x 256 (6.4 M), 0.92x at 256 x 784 x 64 (12.8 M), 0.69x at
# 4000 x 784 x 1024 (3.2 G). The crossover lies between 1.6 M and 6.4 M. (On a machine whose
# other core is busy, two threads lose at every size: then set trainer.blas_threads=1.)
AUTO_MIN_PRODUCT = 4_000_000


def resolve_blas_threads(setting: int | str | None, batch: int, input_dim: int, hidden_dim: int) -> int | None:
    """The BLAS threads `trainer.blas_threads` asks for: a count, None (the library's default), or
    for "auto" 1 below AUTO_MIN_PRODUCT multiply-adds per product and the machine's cores above."""
    if setting != "auto":
        return setting  # type: ignore[return-value]
    return 1 if batch * input_dim * hidden_dim < AUTO_MIN_PRODUCT else (os.cpu_count() or 1)


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """BLAS (and OpenMP) limited to `n` threads inside the block; None leaves them as they are."""
    if n is None:
        yield
        return
    with threadpool_limits(limits=n):
        yield
