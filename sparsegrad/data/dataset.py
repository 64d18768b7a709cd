"""`Dataset` (scaled arrays ready to train on), `DataError`, and the step from raw arrays to a Dataset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

IMAGE_SHAPE = (28, 28)
PIXELS = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]


class DataError(Exception):
    """A dataset could not be loaded; the message names the file and what to do."""


@dataclass
class Dataset:
    """Flattened images as float32 in [0, 1] (one row per image) and int64 labels."""

    name: str
    source: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray

    @property
    def image_shape(self) -> tuple[int, int]:
        """Height and width of one image: every MNIST-format set is 28x28."""
        return IMAGE_SHAPE

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, train={len(self.train_labels)}, "
                f"test={len(self.test_labels)}, source={self.source!r})")


class Raw(NamedTuple):
    """Arrays as a source hands them over: images (N, 28, 28) or (N, 784), any numeric dtype."""

    source: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


def one_line(error: BaseException) -> str:
    """An exception's message on one line (whitespace runs collapsed), for a DataError to quote."""
    return " ".join(str(error).split()) or type(error).__name__


def check_limit(limit: int | None) -> None:
    """Reject a `limit` that is not None or a whole number >= 1."""
    if limit is None:
        return
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise DataError(f"data.limit must be a whole number >= 1 (or null for all images), got {limit!r}")


def to_dataset(name: str, raw: Raw, limit: int | None = None) -> Dataset:
    """Keep the first `limit` training images, then flatten and scale pixels to float32 in [0, 1]."""
    check_limit(limit)
    train_images, train_labels = raw.train_images[:limit], raw.train_labels[:limit]
    return Dataset(
        name=name,
        source=raw.source,
        train_images=_images(train_images, raw.source, "training"),
        train_labels=_labels(train_labels, len(train_images), raw.source, "training"),
        test_images=_images(raw.test_images, raw.source, "test"),
        test_labels=_labels(raw.test_labels, len(raw.test_images), raw.source, "test"),
    )


def _images(images: np.ndarray, source: str, split: str) -> np.ndarray:
    """Flatten to (N, 784) float32 in [0, 1]; integer pixels (0..255) are divided by 255."""
    if images.ndim not in (2, 3) or images.shape[1:] not in ((PIXELS,), IMAGE_SHAPE):
        raise DataError(f"{source}: {split} images have shape {images.shape}, expected (N, 28, 28) or "
                        f"(N, 784); only 28x28 MNIST-format images are supported")
    if len(images) == 0:
        raise DataError(f"{source}: the {split} split holds no images")
    flat = images.reshape(len(images), PIXELS)  # a view: no copy
    if flat.dtype == np.uint8:
        scaled = flat.astype(np.float32)  # the one copy we make
        scaled /= 255.0
        return scaled
    if np.issubdtype(flat.dtype, np.integer):
        if flat.min() < 0 or flat.max() > 255:
            raise DataError(f"{source}: {split} pixels range {flat.min()}..{flat.max()}, expected 0..255")
        return flat.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(flat.dtype, np.floating):
        low, high = flat.min(), flat.max()  # NaN anywhere makes both NaN; inf shows in one of them
        if not (np.isfinite(low) and np.isfinite(high)):
            raise DataError(f"{source}: {split} images hold NaN or infinite pixels; the data is corrupted "
                            f"(this is not divergence), replace the file")
        if low < 0.0 or high > 1.0:
            raise DataError(f"{source}: {split} pixels are floats ranging {low:g}..{high:g}; "
                            f"float pixels must already be in [0, 1] (or store them as uint8 0..255)")
        return flat.astype(np.float32, copy=False)
    raise DataError(f"{source}: {split} images have dtype {flat.dtype}, expected uint8 pixels")


def _labels(labels: np.ndarray, n_images: int, source: str, split: str) -> np.ndarray:
    """Check there is one integer label per image and return them as int64."""
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{source}: {split} labels have shape {labels.shape} and dtype {labels.dtype}, "
                        f"expected a 1-D array of integers")
    if len(labels) != n_images:
        raise DataError(f"{source}: {n_images} {split} images but {len(labels)} {split} labels; "
                        f"each image needs exactly one label")
    return labels.astype(np.int64, copy=False)
