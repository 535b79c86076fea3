"""PSF restoration models: a network that takes the image and its coordinate maps (where each pixel lies in the
frame) and restores lens blur; trained with a pixel loss on pairs made by a PSF field (PSFRestoreModel), or
classical, without training (PSFWienerModel). Validation and inference are on whole frames: the coordinate maps
are computed for the image given, so test_sr.py must run them with --tile 0 (a tile is not a frame)."""
import torch

from deflow.registry import MODELS
from sr.pixel.model import SRModel
from sr.psf.wiener import coordinate_maps


@MODELS.register()
class PSFRestoreModel(SRModel):
    EXAMPLE_SECTIONS = {**SRModel.EXAMPLE_SECTIONS, "network_g": {"type": "FOVKPN"},
                        "datasets": {"train": {"type": "PSFPairDataset"}}}

    def forward_train(self, batch: dict) -> dict:
        return {"sr": self.nets["g"](batch["lq"], batch["coords"])}

    @torch.no_grad()
    def infer(self, lq: torch.Tensor, coords: torch.Tensor | None = None) -> torch.Tensor:
        net = self.net_for_inference("g")
        was_training = net.training
        net.eval()
        if coords is None:
            coords = coordinate_maps(*lq.shape[-2:], device=lq.device).expand(len(lq), -1, -1, -1)
        out = net(lq, coords)
        net.train(was_training)
        return out.clamp(0, 1)


@MODELS.register()
class PSFWienerModel(PSFRestoreModel):
    """A restorer without training (network_g: WienerField): build it from its config alone."""
    TRAINED = ()
    EXAMPLE_SECTIONS = {"network_g": {"type": "WienerField"}}
