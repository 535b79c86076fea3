"""PSFTransferModel: degradation transfer (Chen et al., "Extreme-Quality Computational Imaging via Degradation
Framework", ICCV 2021, section 3 and its project page; code TanGeeGo/DegradationTransfer) on deflow's model contract.

network_g (PSFFieldNet) holds one PSF per field node and colour channel. The camera model it fits is
    blurred = process(apply_psf_field(unprocess(sharp), field))
with the ISP of `isp` (the camera's sRGB pipeline; 'none' for linear captures) and the field blended bilinearly
between nodes (Denis et al. 2015), so the fit is the same seam-free model that degradations.psf applies. Loss:
    alpha L1(prediction, blurred) + beta L_sum2one + gamma L_boundary + delta L_sym
L1 over the interior of each crop (its outer k // 2 px see reflected neighbours); the boundary mask of each node is
its own zone's outer ring times that zone's weight (Chen: lambda_boundaries 1000 / 100 / 1 for 19 / 23 / 27,
lambda_sum2one 0.001; L_sym is on the project page only: its weight is ours).
"""
import torch

from deflow.models.base import BaseModel
from deflow.psf.losses import boundary_loss, node_boundary_masks, normalised_l1, sum2one_loss, symmetry_loss
from deflow.psf.synthetic import build_isp
from deflow.registry import ARCHS, MODELS
from deflow.schema import Key
from degradations.isp import process, unprocess
from degradations.psf import apply_psf_field, load_psf_field


@MODELS.register()
class PSFTransferModel(BaseModel):
    OPTIONS = {
        "isp": Key((str, type(None)), "chen_phone", "the camera's ISP between linear light and the photos: "
                   "chen_phone (Chen et al.'s phone) or none (linear captures)"),
        "isp_wb_preset": Key(int, 0, "white-balance preset of chen_phone (0 or 1)", minimum=0, maximum=1),
        "train": {
            "alpha": Key(float, 1.0, "weight of L_fidelity (L1 after the ISP's process)", minimum=0),
            "beta": Key(float, 1.0e-3, "weight of L_sum2one (Chen's code: 0.001)", minimum=0),
            "gamma": Key(float, 1.0, "weight of L_boundary (times boundary_zone_weights)", minimum=0),
            "delta": Key(float, 0.0, "weight of L_sym, central symmetry (not in Chen's code)", minimum=0),
            "boundary_zone_weights": Key(list, [1000.0, 100.0, 1.0], "boundary weight per kernel-size zone "
                                         "(Chen: 1000, 100, 1 for 19, 23, 27)"),
            "boundary_scale": Key(float, 30.0, "peak of the boundary mask (Chen: 30)", minimum=0),
        },
        "val": {
            "planted_field": Key((str, type(None)), None, "a known field file to score kernel_l1 against"),
        },
    }
    EXAMPLE_SECTIONS = {
        "network_g": {"type": "PSFFieldNet"},
        "train.optim_g": {"type": "Adam"},
        "datasets": {"train": {"type": "PSFCalibrationDataset"}},
    }
    VAL_METRICS = ("reblur_psnr", "kernel_l1")
    LOWER_IS_BETTER = frozenset({"kernel_l1"})

    def __init__(self, opt: dict, device: torch.device):
        super().__init__(opt, device)
        net_opt = dict(opt["network_g"])
        self.nets["g"] = net = ARCHS.get(net_opt.pop("type"))(**net_opt).to(device)
        self.isp = build_isp(opt["isp"], opt["isp_wb_preset"])
        if self.isp is not None:
            self.isp = self.isp.to(device)
        train = opt["train"]
        zone_sizes = net_opt.get("kernel_sizes", (19, 23, 27))
        if len(train["boundary_zone_weights"]) != len(zone_sizes):
            from deflow.errors import UserError
            raise UserError(f"train.boundary_zone_weights: {len(train['boundary_zone_weights'])} weights for "
                            f"{len(zone_sizes)} kernel sizes; give one per size")
        self.boundary_masks = node_boundary_masks(net.node_sizes.cpu(), net.size, zone_sizes,
                                                  train["boundary_zone_weights"], train["boundary_scale"]).to(device)
        self.keep_ema("g", train["ema_decay"])
        planted = opt["val"]["planted_field"]
        self.planted = load_psf_field(planted)[0].to(device) if planted else None

    def camera(self, sharp: torch.Tensor, field: torch.Tensor, regions: torch.Tensor | None = None) -> torch.Tensor:
        """The fitted camera's photo of sharp sRGB crops (B, 3, h, w) at `regions` (B, 4) (None: whole images)."""
        linear = unprocess(sharp, self.isp) if self.isp is not None else sharp
        if regions is None:
            blurred = apply_psf_field(linear, field)
        else:
            blurred = torch.cat([apply_psf_field(linear[i:i + 1], field, tuple(int(v) for v in regions[i]))
                                 for i in range(len(linear))])
        return process(blurred, self.isp) if self.isp is not None else blurred.clamp(0, 1)

    def forward_train(self, batch: dict) -> dict:
        field = self.nets["g"]()
        return {"field": field, "pred": self.camera(batch["sharp"], field, batch["region"])}

    def losses(self, batch: dict, shared: dict, stage: str) -> dict:
        train, field = self.opt["train"], shared["field"]
        p = field.shape[-1] // 2
        interior = (..., slice(p, -p or None), slice(p, -p or None))
        losses = {"l_fidelity": train["alpha"] * (shared["pred"][interior] - batch["blurred"][interior]).abs().mean()}
        if train["beta"]:
            losses["l_sum2one"] = train["beta"] * sum2one_loss(field)
        if train["gamma"]:
            losses["l_boundary"] = train["gamma"] * boundary_loss(field, self.boundary_masks)
        if train["delta"]:
            losses["l_sym"] = train["delta"] * symmetry_loss(field)
        return losses

    @torch.no_grad()
    def fitted_field(self) -> torch.Tensor:
        """(gh, gw, 3, k, k): the fitted PSFs (EMA weights when kept), each renormalised to sum 1 (as Chen's
        kernel_sort.py does before synthesis)."""
        field = self.net_for_inference("g")().detach()
        return field / field.sum(dim=(-2, -1), keepdim=True)

    @torch.no_grad()
    def validate(self, batch: dict) -> dict:
        from metrics.psnr import psnr

        field = self.fitted_field()
        values = {"reblur_psnr": psnr(self.camera(batch["sharp"], field), batch["blurred"], field.shape[-1] // 2).tolist()}
        if "kernel_l1" in self.opt["val"]["metrics"]:
            if self.planted is None:
                from deflow.errors import UserError
                raise UserError("val.metrics: kernel_l1 needs val.planted_field, the field to compare with")
            values["kernel_l1"] = [kernel_distance(field, self.planted)]
        return {k: v for k, v in values.items() if k in self.opt["val"]["metrics"]}

    def visuals(self, batch: dict) -> dict:
        pred = self.camera(batch["sharp"], self.fitted_field())
        return {"sharp|fitted|camera": torch.cat([batch["sharp"], pred, batch["blurred"]], dim=-1)}


def kernel_distance(field: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean per-kernel L1 distance of the normalised kernels of two fields; sizes are zero-padded to the larger."""
    from degradations.blur import pad_kernels

    size = max(field.shape[-1], reference.shape[-1])
    if field.shape[:3] != reference.shape[:3]:
        from deflow.errors import UserError
        raise UserError(f"fields of {tuple(field.shape[:3])} and {tuple(reference.shape[:3])} nodes x channels "
                        "cannot be compared; fit the same grid")
    a, b = pad_kernels(field.float(), size), pad_kernels(reference.float().to(field.device), size)
    return float(normalised_l1(a, b).mean())
