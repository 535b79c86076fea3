"""Image degradations for synthetic LR/HR pairs: kernels, blur, resize, noise, JPEG, camera ISP,
spatially variant PSFs, and random pipelines described as YAML (`Pipeline`).

Images are float32 RGB tensors in [0, 1], (B, C, H, W). Importing the package registers the pipeline
operations in `deflow.registry.DEGRADATIONS`.
"""
from degradations import blur, isp, jpeg, kernels, noise, ops, psf, resize  # noqa: F401
from degradations.pipeline import Pipeline, preset_names

__all__ = ["Pipeline", "preset_names"]
