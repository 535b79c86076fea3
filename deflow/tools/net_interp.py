"""Interpolate two trainings of one network, as ESRGAN's net_interp.py does (Wang et al. 2018, section 3.4):
theta = (1 - alpha) * theta_PSNR + alpha * theta_GAN, a sweep between the PSNR-oriented and the GAN result.

    python scripts/net_interp.py --psnr CKPT --gan CKPT --alpha 0.8 --out FILE [--network g]

Each CKPT is a deflow checkpoint or a BasicSR / ESRGAN weights file; of each, the weights inference would use are
taken (the EMA where one was kept). FILE has the GAN checkpoint's kind: from a deflow checkpoint, one that
`scripts/test_sr.py --model_path FILE` runs (its options, its other networks, no EMA, no optimizer: not resumable);
from a weights file, {"params": ...} for `scripts/test_sr.py -opt CONF --model_path FILE`.
"""
import argparse
from pathlib import Path

import torch

from deflow import checkpoint
from deflow.errors import UserError, user_errors_exit_2
from deflow.models.base import inference_weights


def interpolate(psnr: dict, gan: dict, alpha: float) -> dict:
    """(1 - alpha) psnr + alpha gan for every floating-point tensor; integer buffers (counters) from `gan`."""
    if not 0.0 <= alpha <= 1.0:
        raise UserError(f"--alpha {alpha}: expected a value in [0, 1] (0 = the PSNR model, 1 = the GAN model)")
    if psnr.keys() != gan.keys():
        raise UserError(f"the two checkpoints hold different networks (e.g. {sorted(psnr.keys() ^ gan.keys())[0]!r} "
                        "is in one only); interpolate two trainings of the same network_g")
    mixed = {}
    for key, theta_gan in gan.items():
        if psnr[key].shape != theta_gan.shape:
            raise UserError(f"{key}: shape {tuple(psnr[key].shape)} in --psnr but {tuple(theta_gan.shape)} in --gan; "
                            "interpolate two trainings of the same network_g")
        mixed[key] = torch.lerp(psnr[key], theta_gan, alpha) if theta_gan.is_floating_point() else theta_gan
    return mixed


def net_interp(psnr_path: str, gan_path: str, alpha: float, out: Path, network: str = "g") -> Path:
    gan_state = checkpoint.load(gan_path)
    mixed = interpolate(inference_weights(checkpoint.load(psnr_path), network, psnr_path),
                        inference_weights(gan_state, network, gan_path), alpha)
    if "model" in gan_state:
        nets = {**gan_state["model"]["nets"], network: mixed}
        result = {"model": {"nets": nets, "ema": {}, "ema_steps": {}}, "options": gan_state["options"]}
    else:
        result = {"params": mixed}
    checkpoint.save_atomic(result, out)
    return out


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(prog="scripts/net_interp.py", description=__doc__.splitlines()[0])
    parser.add_argument("--psnr", required=True, help="checkpoint of the PSNR-oriented training (alpha 0)")
    parser.add_argument("--gan", required=True, help="checkpoint of the GAN training (alpha 1)")
    parser.add_argument("--alpha", required=True, type=float, help="weight of the GAN model, in [0, 1] (ESRGAN: 0.8)")
    parser.add_argument("--out", required=True, type=Path, help="the interpolated checkpoint to write")
    parser.add_argument("--network", default="g", help="which network to interpolate (default g)")
    args = parser.parse_args(argv)
    out = net_interp(args.psnr, args.gan, args.alpha, args.out, args.network)
    print(f"wrote {out}: (1 - {args.alpha}) x {args.psnr} + {args.alpha} x {args.gan}")


if __name__ == "__main__":
    main()
