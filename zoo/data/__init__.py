"""Data sets for the zoo: loaders for real data and synthetic look-alikes.

Plain numpy/pandas only, so data preparation never pays for a TensorFlow import.
``zoo.data.adult`` is UCI Adult (loader, download cache, synthetic twin); ``zoo.data.criteo``
generates Criteo-shaped click logs of any size.
"""
from zoo.data import adult, criteo, synthetic
from zoo.data._download import DatasetUnavailable
from zoo.data.movielens import MOVIELENS_SMALL_URL, load_ctr, locate, write_csv

__all__ = [
    "MOVIELENS_SMALL_URL", "DatasetUnavailable", "adult", "criteo", "load_ctr", "locate", "synthetic", "write_csv",
]  # fmt: skip
