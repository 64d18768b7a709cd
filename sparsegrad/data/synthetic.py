"""Digit-like 28x28 images drawn with NumPy: seven-segment style strokes of ten classes.

Each image is its class's strokes, each end jittered a little, then sheared, rotated, scaled
and shifted at random, drawn with a soft pen of random width, plus a little noise. Nothing is
downloaded, the same `seed` gives the same images, and 2,500 of them take well under a second.
"""

from __future__ import annotations

import numpy as np

from sparsegrad.data.dataset import DataError, Raw

CHUNK = 4096  # images drawn at once

# Stroke ends in a unit box: x from -0.5 (left) to 0.5 (right), y from -1 (top) to 1 (bottom).
_TL, _TR, _ML, _MR, _BL, _BR = (-0.5, -1), (0.5, -1), (-0.5, 0), (0.5, 0), (-0.5, 1), (0.5, 1)
_TOP, _MID, _BOTTOM = (_TL, _TR), (_ML, _MR), (_BL, _BR)
_UPPER_LEFT, _LOWER_LEFT = (_TL, _ML), (_ML, _BL)
_UPPER_RIGHT, _LOWER_RIGHT = (_TR, _MR), (_MR, _BR)
STROKES = (
    (_TOP, _UPPER_RIGHT, _LOWER_RIGHT, _BOTTOM, _LOWER_LEFT, _UPPER_LEFT),  # 0
    (((-0.2, -0.7), (0.1, -1)), ((0.1, -1), (0.1, 1))),                    # 1
    (_TOP, _UPPER_RIGHT, (_MR, _BL), _BOTTOM),                             # 2
    (_TOP, _UPPER_RIGHT, ((-0.1, 0), _MR), _LOWER_RIGHT, _BOTTOM),         # 3
    (((0.2, -1), (-0.5, 0.3)), ((-0.5, 0.3), (0.5, 0.3)), ((0.2, -0.4), (0.2, 1))),  # 4
    (_TOP, _UPPER_LEFT, _MID, _LOWER_RIGHT, _BOTTOM),                      # 5
    (((0.4, -1), _ML), _LOWER_LEFT, _BOTTOM, _LOWER_RIGHT, _MID),          # 6
    (_TOP, (_TR, (-0.2, 1))),                                              # 7
    (_TOP, _UPPER_RIGHT, _LOWER_RIGHT, _BOTTOM, _LOWER_LEFT, _UPPER_LEFT, _MID),  # 8
    (_MID, _UPPER_LEFT, _TOP, _UPPER_RIGHT, (_MR, (0.2, 1))),              # 9
)
_MAX_STROKES = max(len(s) for s in STROKES)
# One (10, 7, 2, 2) array: class, stroke, end, (x, y); short digits repeat their first stroke.
_SEGMENTS = np.array([list(s) + [s[0]] * (_MAX_STROKES - len(s)) for s in STROKES], dtype=np.float32)
_GRID_Y, _GRID_X = (c.reshape(1, -1).astype(np.float32) for c in np.mgrid[0:28, 0:28])  # row, column


def load_synthetic(seed: int = 0, n_train: int = 2000, n_test: int = 500) -> Raw:
    """`n_train` + `n_test` synthetic digits from one seeded generator; train comes first."""
    for key, n in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise DataError(f"data=synthetic: {key} must be a whole number >= 1, got {n!r}")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n_train + n_test)
    images = np.empty((len(labels), 28, 28), dtype=np.float32)
    for start in range(0, len(labels), CHUNK):  # in chunks, to bound the memory of the temporaries
        images[start:start + CHUNK] = draw_digits(labels[start:start + CHUNK], rng)
    source = f"synthetic seven-segment digits (seed={seed}, {n_train} train, {n_test} test)"
    return Raw(source, images[:n_train], labels[:n_train], images[n_train:], labels[n_train:])


def draw_digits(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Render one (28, 28) float32 image in [0, 1] per label."""
    n = len(labels)
    ends = _SEGMENTS[labels] + rng.normal(0.0, 0.06, size=(n, _MAX_STROKES, 2, 2)).astype(np.float32)
    ends = ends @ _random_transforms(n, rng).transpose(0, 2, 1)[:, None]  # (n, strokes, 2, 2)
    ends += (13.5 + rng.uniform(-1.5, 1.5, size=(n, 1, 1, 2))).astype(np.float32)
    squared = np.full((n, _GRID_X.shape[1]), np.inf, dtype=np.float32)
    for k in range(_MAX_STROKES):
        np.minimum(squared, _squared_distance(ends[:, k, 0], ends[:, k, 1]), out=squared)
    distance = np.sqrt(squared, out=squared)
    pen = rng.uniform(1.0, 1.7, size=(n, 1)).astype(np.float32)
    images = np.clip(pen + 0.5 - distance, 0.0, 1.0)  # full ink inside the pen, a 1-pixel soft edge
    images += rng.normal(0.0, 0.03, size=images.shape).astype(np.float32)
    return np.clip(images, 0.0, 1.0, out=images).reshape(n, 28, 28)


def _random_transforms(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 2, 2) matrices: scale (pixels per unit), slant (shear) and a small rotation."""
    scale = rng.uniform(6.0, 8.0, size=n)
    width = scale * rng.uniform(0.8, 1.2, size=n)
    shear = rng.uniform(-0.35, 0.1, size=n)  # mostly leaning right, like handwriting
    angle = rng.uniform(-0.15, 0.15, size=n)
    cos, sin = np.cos(angle), np.sin(angle)
    rotate = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    stretch = np.zeros((n, 2, 2))
    stretch[:, 0, 0], stretch[:, 0, 1], stretch[:, 1, 1] = width, shear * scale, scale
    return (rotate @ stretch).astype(np.float32)


def _squared_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, 784) squared distance from every pixel centre to the segment a-b of each image; a, b: (n, 2)."""
    px, py = _GRID_X - a[:, :1], _GRID_Y - a[:, 1:]  # pixel relative to a
    dx, dy = b[:, :1] - a[:, :1], b[:, 1:] - a[:, 1:]  # the segment as a vector
    t = (px * dx + py * dy) / np.maximum(dx * dx + dy * dy, np.float32(1e-6))
    np.clip(t, 0.0, 1.0, out=t)  # position of the nearest point along the segment
    px -= t * dx
    py -= t * dy
    return px * px + py * py
