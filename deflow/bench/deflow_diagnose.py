"""Where does a trained DeFlow model's degradation fall short? Noise levels and per-level latent statistics.

    python scripts/deflow_diagnose.py --model_path CKPT --clean DIR --degraded DIR [--paired DIR] [--seed 0]
        [--device auto]

Noise (metrics.noise.noise_std, 8-bit units, mean over images) of: the clean and the degraded images;
the clean images translated (`degrade`); degraded images sampled given h of the clean images (`sample_degraded`);
the degraded images translated back (`restore`). Per latent level: the mean per-channel variance (trace / C of
the channel covariance over every pixel of every image) of the encoded clean and degraded images, and of the
model's degraded density, D^2 + A A^T (D^2 + S A A^T S of a content shift, averaged over the degraded images'
pixels; D = I unless latent_scale). Degraded latents that match it while translations carry too little
noise point at structure the per-pixel shift cannot express (dependence on content, correlation between pixels).

Detail transfer (metrics.realism.detail_transfer): per ring of radial frequency, the share of the clean images'
detail the translations keep; with --paired, the real degradation's too. A camera that blurs keeps less than 1 at
high frequencies; a translation that keeps 1 or more has not learned it.

Noise by texture: the std of translated - clean (per channel in 7x7 windows, intensity 0.1-0.9) per bin of the
clean image's local texture (the std of its own 7x7 window); with --paired (the real degraded versions of the same
clean images, as the camera benchmark has them) the same for the real degradation. A camera's noise does not depend
on texture; a flow whose gain follows the clean domain's local variance adds too little in flat regions.
"""
import argparse
import statistics
from pathlib import Path

import torch
import torch.nn.functional as F

from deflow.errors import user_errors_exit_2
from deflow.flow.deflow_model import image_generator
from deflow.flow.flownet import flow_size_multiple
from deflow.imageio import list_images, read_image
from deflow.models.loading import load_for_inference
from metrics.noise import noise_std
from metrics.realism import detail_transfer


def flow_inputs(model, images: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each image (1, C, H, W) on the model's device, cropped to the sides the flow takes."""
    net = model.net_for_inference("g")
    multiple = flow_size_multiple(net.scale, net.flow.L)
    return [image[None, :, : image.shape[1] // multiple * multiple, : image.shape[2] // multiple * multiple]
            .to(model.device) for image in images]


def latent_variances(model, images: list[torch.Tensor], degraded: bool, seed: int) -> dict[str, float]:
    """{level: trace / C of the channel covariance of the encoded images' latents, over all their pixels}."""
    net = model.net_for_inference("g")
    pixels: dict[str, list[torch.Tensor]] = {}
    for i, x in enumerate(flow_inputs(model, images)):
        if degraded and model.normalize is not None:
            x = model.normalize(x)
        generator = torch.Generator(model.device).manual_seed(seed + i)
        latents, _ = net.encode_image(x, model.conditioning_image(x), generator=generator, label=int(degraded))
        for level, z in latents.items():
            pixels.setdefault(str(level), []).append(z[0].flatten(1).double())
    return {level: float(torch.cov(torch.cat(z, 1)).trace()) / z[0].shape[0] for level, z in pixels.items()}


def model_variances(model, images: list[torch.Tensor], seed: int) -> dict[str, float]:
    """{level: trace / C of the degraded density's I + Sigma}, averaged over the pixels of `images` where Sigma
    follows the conditioning (a content shift), else I + A A^T itself."""
    net = model.net_for_inference("g")
    values: dict[str, list[torch.Tensor]] = {}
    for i, x in enumerate(flow_inputs(model, images)):
        conds = net.condition(model.conditioning_image(x), torch.Generator(model.device).manual_seed(seed + i))
        for level, shift in net.shifts.items():
            values.setdefault(level, []).append(shift.variance_per_channel(conds[int(level) - 1]).double().flatten())
    return {level: float(torch.cat(v).mean()) for level, v in values.items()}


def converted(model, images: list[torch.Tensor], names: list[str], mode: str, seed: int) -> list[torch.Tensor]:
    """The images converted by `mode` (translate.py's), each with its own seeded generator, on the CPU."""
    return [model.convert(img[None].to(model.device), mode, image_generator(seed, name, model.device))[0].cpu()
            for img, name in zip(images, names)]


TEXTURE_BINS = (0.0, 0.005, 0.01, 0.02, 0.04, 0.08, 1.0)  # local std of the clean image, intensity units


def noise_by_texture(clean: list[torch.Tensor], noisy: list[torch.Tensor]) -> list[dict]:
    """Per TEXTURE_BINS bin: {"texture": (low, high), "std_8bit", "fraction"} of the residual noisy - clean."""
    def local(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = F.avg_pool2d(x, 7, 1, 3)
        return mean, (F.avg_pool2d(x * x, 7, 1, 3) - mean * mean).clamp_min(0)

    stats = []
    for c, n in zip(clean, noisy):
        intensity, texture = local(c.mean(0)[None, None])
        _, variance = local((n - c)[None])
        variance = variance.mean(1)  # per-channel variances, averaged
        stats.append(torch.stack([variance.flatten(), texture.sqrt().flatten(), intensity.flatten()]))
    variance, texture, intensity = torch.cat(stats, 1)
    usable = (intensity > 0.1) & (intensity < 0.9)
    rows = []
    for low, high in zip(TEXTURE_BINS, TEXTURE_BINS[1:]):
        inside = usable & (texture >= low) & (texture < high)
        std = float(variance[inside].mean().sqrt() * 255) if inside.any() else None
        rows.append({"texture": (low, high), "std_8bit": std, "fraction": float(inside.sum() / usable.sum())})
    return rows


@torch.no_grad()
def diagnose(model, clean_dir: Path, degraded_dir: Path, seed: int = 0, paired_dir: Path | None = None) -> dict:
    paths = {"clean": list_images(clean_dir), "degraded": list_images(degraded_dir)}
    images = {domain: [read_image(p) for p in ps] for domain, ps in paths.items()}
    names = {domain: [p.name for p in ps] for domain, ps in paths.items()}
    noise = {domain: statistics.mean(noise_std(img) for img in imgs) for domain, imgs in images.items()}
    outputs = {mode: converted(model, images[domain], names[domain], mode, seed)
               for mode, domain in (("degrade", "clean"), ("sample_degraded", "clean"), ("restore", "degraded"))}
    noise.update({mode: statistics.mean(noise_std(img) for img in imgs) for mode, imgs in outputs.items()})
    levels = {"clean": latent_variances(model, images["clean"], False, seed),
              "degraded": latent_variances(model, images["degraded"], True, seed),
              "model_degraded": model_variances(model, images["degraded"], seed)}
    texture = {"translated": noise_by_texture(images["clean"], outputs["degrade"])}
    transfer = {"translated": detail_transfer(outputs["degrade"], images["clean"])}
    if paired_dir is not None:
        paired = [read_image(paired_dir / name) for name in names["clean"]]
        texture["paired_real"] = noise_by_texture(images["clean"], paired)
        transfer["paired_real"] = detail_transfer(paired, images["clean"])
    return {"noise_std_8bit": noise, "latent_variance": levels, "noise_by_texture": texture,
            "detail_transfer": {"frequency": transfer["translated"][0].tolist(),
                                **{name: values.tolist() for name, (_, values) in transfer.items()}}}


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--clean", required=True, type=Path, help="clean images (the clean domain's scale)")
    parser.add_argument("--degraded", required=True, type=Path, help="real degraded images")
    parser.add_argument("--paired", type=Path, help="real degraded versions of the --clean images (same names)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args(argv)
    model = load_for_inference(args.model_path, device=args.device, expected_type="DeFlowModel")
    result = diagnose(model, args.clean, args.degraded, args.seed, args.paired)
    print("noise std (8-bit): " + "  ".join(f"{k} {v:.2f}" for k, v in result["noise_std_8bit"].items()))
    print("latent variance per channel (trace / C): level  clean  degraded  model I + A A^T")
    levels = result["latent_variance"]
    for level in levels["model_degraded"]:
        print(f"  {level:>5}  {levels['clean'][level]:.3f}  {levels['degraded'][level]:.3f}  "
              f"{levels['model_degraded'][level]:.3f}")
    transfer = result["detail_transfer"]
    print("detail transfer by frequency (cycles/px): " + "  ".join(f"{f:.3f}" for f in transfer["frequency"]))
    for name in ("translated", "paired_real"):
        if name in transfer:
            print(f"  {name:>11}  " + "  ".join(f"{v:5.2f}" for v in transfer[name]))
    print("noise std (8-bit) by the clean image's local texture std (share of pixels):")
    for name, rows in result["noise_by_texture"].items():
        print(f"  {name:>11}  " + "  ".join(
            f"[{r['texture'][0]:g},{r['texture'][1]:g}) " + ("n/a" if r["std_8bit"] is None else f"{r['std_8bit']:.1f}")
            + f" ({r['fraction']:.0%})" for r in rows))


if __name__ == "__main__":
    main()
