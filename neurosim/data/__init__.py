"""Datasets: MNIST and Fashion-MNIST from their IDX files, CIFAR-10 from its batches; found locally or downloaded."""

from .mnist import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
