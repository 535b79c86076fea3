"""Importing this module registers every dataset type in DATASETS (the plugin loader imports it)."""
from deflow.data.paired_image_dataset import PairedImageDataset
from deflow.data.single_image_dataset import SingleImageDataset
from deflow.data.unpaired_domains_dataset import UnpairedDomainsDataset

__all__ = ["PairedImageDataset", "SingleImageDataset", "UnpairedDomainsDataset"]
