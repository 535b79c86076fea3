"""Online degradation of HR crops on the model's device, several crops of one image sharing one degradation.

The crops of an image travel as the channels of one image, (B, P, 3, H, W) -> (B, 3P, H, W), through a
`degradations` pipeline: its kernel, scale and noise level are drawn once per image (DASR's invariant: the two
patches of an image have the same degradation, official `utils/util.py::SRMDPreprocessing`), while the noise itself
is drawn per channel, so each crop gets its own realisation. Ops that need exactly RGB (JPEG, the camera ISP) do not
take 3P channels and are refused when the model is built.
"""
import numpy as np
import torch

from deflow.errors import UserError
from degradations.pipeline import Pipeline


def build_pipeline(spec, scale: int, where: str = "train.degradation") -> Pipeline:
    """A pipeline from a preset name, a YAML file, or steps written inline ({steps: [...]} or a list)."""
    if isinstance(spec, str):
        return Pipeline.from_name_or_file(spec, scale)
    return Pipeline.from_config(spec, scale, where)


def check_shared(pipeline: Pipeline, patches: int, scale: int, where: str = "train.degradation") -> None:
    """Run the pipeline once on a small stand-in with 3 `patches` channels; an op that cannot is a UserError."""
    try:
        pipeline(torch.rand(1, 3 * patches, 8 * scale, 8 * scale), torch.Generator().manual_seed(0))
    except (RuntimeError, ValueError, IndexError) as exc:
        raise UserError(f"{where}: pipeline {pipeline.name!r} cannot degrade {patches} crops of an image together "
                        f"(its ops must work per channel: blur, resize, gaussian_noise, quantize, ...; JPEG and the "
                        f"camera ISP do not): {str(exc).splitlines()[0][:200]}") from None


def step_generator(seed: int, rank: int, iteration: int) -> torch.Generator:
    """The CPU generator of one iteration's degradations: a function of (seed, rank, iteration), so a resumed run
    degrades exactly as an unbroken one."""
    state = np.random.SeedSequence([seed, rank, iteration]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def degrade_shared(pipeline: Pipeline, hr: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """hr (B, P, 3, H, W) in [0, 1] -> lr (B, P, 3, H / s, W / s): one degradation per image, shared by its crops."""
    b, p, c, h, w = hr.shape
    lr = pipeline(hr.reshape(b, p * c, h, w), generator)
    return lr.reshape(b, p, c, *lr.shape[-2:])
