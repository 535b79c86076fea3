"""AIM colour normalisation of the degraded domain (the `normalize` option of DeFlow's AIM config)."""
import torch

from deflow.errors import UserError

NORMALIZE_KEYS = ("clean_mean", "clean_std", "degraded_mean", "degraded_std")


class ColourNormalization:
    """AIM colour normalisation: degraded images mapped per channel to the clean domain's mean and std,
    x -> clamp((x - mu_d) / sd_d * sd_c + mu_c, 0, 1); `inverse` maps flow outputs back to domain Y.

    `normalize` is the config section {clean_mean, clean_std, degraded_mean, degraded_std}, 3 numbers each (RGB,
    in [0, 1] units). Works on (3, H, W) and (N, 3, H, W).
    """

    def __init__(self, normalize: dict):
        if not isinstance(normalize, dict) or sorted(normalize) != sorted(NORMALIZE_KEYS):
            raise UserError(f"normalize must have exactly the keys {', '.join(NORMALIZE_KEYS)} (3 numbers each, "
                            f"RGB); got {normalize!r}")
        stats = {}
        for key in NORMALIZE_KEYS:
            value = normalize[key]
            if (not isinstance(value, (list, tuple)) or len(value) != 3
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
                raise UserError(f"normalize.{key} must be a list of 3 numbers (R, G, B); got {value!r}")
            if key.endswith("std") and min(value) <= 0:
                raise UserError(f"normalize.{key} must be positive; got {value!r}")
            stats[key] = torch.tensor(value, dtype=torch.float32).view(3, 1, 1)
        self.gain = stats["clean_std"] / stats["degraded_std"]
        self.offset = stats["clean_mean"] - stats["degraded_mean"] * self.gain

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.gain.to(x) + self.offset.to(x)).clamp(0.0, 1.0)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.offset.to(x)) / self.gain.to(x)).clamp(0.0, 1.0)
