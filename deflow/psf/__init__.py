"""Degradation transfer (Chen et al., ICCV 2021): fit a camera's spatially variant PSF field from (sharp, blurred)
calibration pairs; the fitted field is a file that degradations.psf applies to any clean image."""
