"""Data sets for the zoo: loaders for real data and synthetic look-alikes.

Plain numpy/pandas only, so data preparation never pays for a TensorFlow import.
"""
from zoo.data import synthetic
from zoo.data.movielens import MOVIELENS_SMALL_URL, DatasetUnavailable, load_ctr, locate, write_csv

__all__ = ["MOVIELENS_SMALL_URL", "DatasetUnavailable", "load_ctr", "locate", "synthetic", "write_csv"]
