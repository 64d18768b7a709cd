"""Sane bounds on what a data file may declare, checked from its header before anything is read.

A header is only a claim: an IDX file or an .npy member can declare 10^12 images in 16
bytes. Sizes are multiplied as Python ints (never np.prod, which overflows int64) and
refused when absurd, so a hostile file costs a header read, not gigabytes of memory.
"""

from __future__ import annotations

from sparsegrad.data.dataset import DataError

MAX_IMAGES = 10_000_000  # images (or labels) in one array: 166x MNIST's training set
MAX_SIDE = 4096  # an image holds at most MAX_SIDE x MAX_SIDE values
MAX_ARRAY_BYTES = 2 * 1024**3  # one array's bytes: 2 GiB, ~45x MNIST's training images


def declared_bytes(source: str, shape: tuple[int, ...], itemsize: int) -> int:
    """Bytes that an array of `shape` (first axis: images) declares; DataError when absurd."""
    described = f"{source}: header declares shape {'x'.join(map(str, shape)) or 'scalar'}"
    if any(d < 0 for d in shape):
        raise DataError(f"{described}, a negative size; the file is corrupted or forged, replace it")
    count = shape[0] if shape else 1
    per_image = 1
    for d in shape[1:]:
        per_image *= d
    total = count * per_image * itemsize
    if count > MAX_IMAGES:
        raise DataError(f"{described}: {count:,} images, more than the {MAX_IMAGES:,} allowed; "
                        f"the file is corrupted or forged, replace it")
    if per_image > MAX_SIDE * MAX_SIDE:
        raise DataError(f"{described}: {per_image:,} values per image, more than {MAX_SIDE}x{MAX_SIDE}; "
                        f"the file is corrupted or forged, replace it")
    if total > MAX_ARRAY_BYTES:
        raise DataError(f"{described}: {total:,} bytes, more than the {MAX_ARRAY_BYTES // 1024**3} GiB "
                        f"allowed for one array; the file is corrupted or forged, replace it")
    return total
