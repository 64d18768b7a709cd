"""Pictures as arrays, drawn with NumPy alone (no matplotlib: fit's callbacks draw mid-training)."""

from __future__ import annotations

import math

import numpy as np


def side_of(pixels: int) -> int | None:
    """The side of a square picture of `pixels` pixels (28 for 784); None if they make no square."""
    side = math.isqrt(pixels)
    return side if side * side == pixels else None


def tile(images: np.ndarray, cols: int, side: int = 28, pad: int = 1) -> np.ndarray:
    """Lay flat images (n x side*side) out in a grid with `cols` columns, one array to draw."""
    n = len(images)
    rows = math.ceil(n / cols)
    step = side + pad
    grid = np.full((rows * step + pad, cols * step + pad), np.nan, dtype=np.float32)
    for k, image in enumerate(images):
        r, c = divmod(k, cols)
        grid[pad + r * step:pad + r * step + side, pad + c * step:pad + c * step + side] = \
            image.reshape(side, side)
    return grid


def _rgb(gray: np.ndarray, scale: int) -> np.ndarray:
    """Values in [0, 1] (NaN: the frame's grey) as an RGB picture, each pixel `scale` x `scale`."""
    levels = np.where(np.isnan(gray), 0.6, np.clip(gray, 0.0, 1.0))
    big = (levels * 255).round().astype(np.uint8).repeat(scale, axis=0).repeat(scale, axis=1)
    return np.repeat(big[:, :, None], 3, axis=2)


def reconstruction_grid(originals: np.ndarray, recon: np.ndarray, scale: int = 2) -> np.ndarray:
    """Originals on the top row, their reconstructions below, a grey line around each image."""
    n, side = len(originals), side_of(originals.shape[1])
    return _rgb(tile(np.concatenate([originals, recon]), n, side), scale)


def density_bars(firing_rate: np.ndarray, height: int = 120, width: int = 8) -> np.ndarray:
    """Feature density: a histogram of log10 of each unit's firing rate over 30 bins from -6 (a dead
    unit, which never fires) to 0 (fires on every image), a bar `width` pixels wide per bin."""
    floor = -6.0
    logs = np.log10(np.maximum(firing_rate, 10**floor)) if firing_rate.size else np.zeros(0)
    counts, _ = np.histogram(logs, bins=np.linspace(floor, 0, 31))
    tall = np.ceil(counts / max(counts.max(initial=0), 1) * (height - 2)).astype(int)
    filled = np.arange(height)[::-1, None] < tall[None, :]  # bottom up
    picture = np.full((height, counts.size * width, 3), 255, dtype=np.uint8)
    picture[filled.repeat(width, axis=1)] = (148, 103, 189)  # matplotlib's tab:purple, as before
    picture[-1] = 0  # the axis
    return picture
