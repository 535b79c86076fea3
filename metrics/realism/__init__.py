"""Realism of synthetic degraded images against real ones, each number also a figure:

- `c2st`: a classifier two-sample test; held-out accuracy of a small CNN telling synthetic from real patches.
- `nlf`: the noise-level function (noise std per channel against intensity) of an image set, without pairs, and
  the RMS distance between two of them in 8-bit units.
- `spectrum`: the radially averaged power spectrum of high-pass residuals (spatial correlation of the noise) and the
  mean |log10| ratio between two; with pairs, `detail_transfer`, the share of the clean images' detail a degradation
  keeps per frequency (a blur's frequency response).
- `akld`: with pairs (the same clean images behind both), DANet's AKLD between the local noise variances.

`python -m metrics.realism` (cli.py, page.py) runs them all on folders and writes realism.json and realism.html.
"""
from metrics.realism.akld import akld, local_variance
from metrics.realism.c2st import c2st_accuracy, sample_patches
from metrics.realism.nlf import NoiseLevelFunction, estimate_nlf, fit_variance_line, nlf_distance
from metrics.realism.spectrum import detail_transfer, residual_spectrum, spectrum_distance

__all__ = ["NoiseLevelFunction", "akld", "c2st_accuracy", "detail_transfer", "estimate_nlf", "fit_variance_line",
           "local_variance", "nlf_distance", "residual_spectrum", "sample_patches", "spectrum_distance"]
