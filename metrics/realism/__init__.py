"""Realism of synthetic degraded images against real ones: a classifier two-sample test (`c2st`)."""
from metrics.realism.c2st import c2st_accuracy, sample_patches

__all__ = ["c2st_accuracy", "sample_patches"]
