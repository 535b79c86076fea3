"""Restoration of spatially variant lens blur with a (fitted) PSF field: classical Wiener per node, a deep Wiener
with a learned 1/SNR map (Lin et al., Opt. Express 2022) and FOV-KPN (Chen et al., ICCV 2021)."""
