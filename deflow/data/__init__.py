"""Datasets (registered in DATASETS on import of deflow.data.datasets) and the crops and flips they use.

Every dataset item is a dict of float32 RGB (3, H, W) tensors in [0, 1] plus their file paths. A
train-phase item k draws all its randomness from numpy.random.default_rng((manual_seed, k)).
"""
from deflow.data.colour_normalization import ColourNormalization
from deflow.data.datasets import PairedImageDataset, SingleImageDataset, UnpairedDomainsDataset
from deflow.data.transforms import augment, mod_crop, paired_random_crop

__all__ = ["PairedImageDataset", "SingleImageDataset", "UnpairedDomainsDataset", "ColourNormalization", "augment",
           "mod_crop", "paired_random_crop"]
