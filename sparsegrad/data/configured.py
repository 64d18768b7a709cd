"""`load_data(cfg)`: the dataset a run's config names (`cfg.data`, `cfg.seed`), fit for its model."""

from __future__ import annotations

from typing import Any

from sparsegrad.data.dataset import DataError, Dataset
from sparsegrad.data.registry import load_dataset


def load_data(cfg: Any) -> Dataset:
    """The dataset `cfg.data` names, read-only; its images must have `cfg.model.input_dim` pixels."""
    d = cfg.data
    options = {k: d[k] for k in d if k not in ("name", "path", "limit")}
    data = load_dataset(d.name, path=d.path, limit=d.limit, seed=cfg.seed, **options)
    pixels = data.train_images.shape[1]
    if pixels != cfg.model.input_dim:
        raise DataError(f"model.input_dim={cfg.model.input_dim} but the images of data={d.name} have "
                        f"{pixels} pixels: set model.input_dim={pixels}")
    for array in (data.train_images, data.train_labels, data.test_images, data.test_labels):
        array.flags.writeable = False  # training reads them only
    return data
