"""Translate clean images into realistic degraded ones with a trained DeFlow model (or the other way round).

    python scripts/translate.py [-opt CONF] --model_path CKPT --source_dir DIR --out_dir DIR
        [--seed 0] [--heat 1.0] [--tile 256] [--device auto] [--mode degrade|restore|sample_clean|sample_degraded]

Any image size works (padded to what the flow needs, cropped back). Large images go through in overlapping tiles
so memory stays bounded: `restore` blends the overlaps with linear ramps; the stochastic modes (degrade, sample_*)
take every pixel from one tile, the seam in the middle of the overlap, since a blend of two independent noise
draws has less noise than either. The same seed gives bit-identical outputs.
"""
import argparse
from pathlib import Path

import torch
from tqdm import tqdm

from deflow.errors import UserError, user_errors_exit_2
from deflow.flow.deflow_model import MODES, image_generator
from deflow.imageio import list_images, read_image, write_image
from deflow.models.loading import load_for_inference
from deflow.tiling import apply_tiled


def translate_folder(model, source_dir: Path, out_dir: Path, mode: str = "degrade", seed: int = 0, heat: float = 1.0,
                     tile: int | None = 256, overlap: int = 32) -> list[Path]:
    source_dir, out_dir = Path(source_dir), Path(out_dir)
    if out_dir.resolve() == source_dir.resolve():
        raise UserError(f"--out_dir {out_dir} is the source folder; choose another folder so no input is overwritten")
    written = []
    for path in tqdm(list_images(source_dir), desc=mode, unit="img"):
        image = read_image(path)[None]
        generator = image_generator(seed, path.name, model.device)
        out = apply_tiled(lambda x: model.convert(x, mode, generator, heat), image, tile, overlap, 1, model.device,
                          join="ramp" if mode == "restore" else "cut")  # cut: keeps the sampled noise's level
        target = out_dir / f"{path.stem}.png"
        write_image(target, out[0])
        written.append(target)
    return written


@user_errors_exit_2
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-opt", "--opt", help="config: model_type, scale and network_g are enough (default: the options "
                                               "stored in the checkpoint); weights from path.pretrain_network_g")
    parser.add_argument("--model_path", "-model_path", help="DeFlow checkpoint (default: -opt's path.pretrain_network_g)")
    parser.add_argument("--source_dir", "-source_dir", required=True, type=Path)
    parser.add_argument("--out_dir", "-out_dir", required=True, type=Path)
    parser.add_argument("--mode", choices=MODES, default="degrade")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--heat", type=float, default=1.0, help="scale of the sampled latent shift (degrade mode)")
    parser.add_argument("--tile", type=int, default=256, help="tile side in pixels; 0 = whole images")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    args = parser.parse_args(argv)
    if not args.opt and not args.model_path:
        raise UserError("give --model_path CKPT or -opt CONF (with path.pretrain_network_g), or both")
    model = load_for_inference(args.model_path, args.opt, args.device, expected_type="DeFlowModel")
    with torch.no_grad():
        written = translate_folder(model, args.source_dir, args.out_dir, args.mode, args.seed, args.heat,
                                   args.tile or None)
    print(f"{len(written)} images written to {args.out_dir}")


if __name__ == "__main__":
    main()
