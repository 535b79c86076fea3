"""Fixtures shared by the whole suite: small image folders cut from skimage's photos, and tiny configs."""
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

ROOT = Path(__file__).resolve().parents[1]


def write_pairs(folder: Path, count: int, size: int, scale: int) -> tuple[Path, Path]:
    """`count` GT crops of `size` px from skimage photos and their area-downsampled LQ, in folder/{gt,lq}."""
    from deflow.imageio import write_image
    from deflow.tools.sample_photos import photo

    gt_dir, lq_dir = folder / "gt", folder / "lq"
    sources = ["astronaut", "coffee", "chelsea", "rocket"]
    for i in range(count):
        img = photo(sources[i % len(sources)])
        top, left = 40 + 17 * i, 60 + 23 * i
        gt = img[:, top:top + size, left:left + size]
        write_image(gt_dir / f"img{i}.png", gt)
        write_image(lq_dir / f"img{i}.png", F.avg_pool2d(gt[None], scale)[0])
    return gt_dir, lq_dir


@pytest.fixture
def tiny_sr_config(tmp_path) -> Path:
    """A config of a 2-block x2 RRDBNet on four 32 px crops: a few iterations take well under a second."""
    return write_tiny_sr_config(tmp_path)


def write_tiny_sr_config(tmp_path: Path) -> Path:
    """tiny_sr_config's files under `tmp_path`; returns the config's path."""
    gt, lq = write_pairs(tmp_path / "train", 4, 32, 2)
    vgt, vlq = write_pairs(tmp_path / "val", 2, 32, 2)
    opt = {
        "name": "tiny", "model_type": "SRModel", "scale": 2, "num_gpu": 0, "manual_seed": 3,
        "datasets": {
            "train": {"type": "PairedImageDataset", "dataroot_gt": str(gt), "dataroot_lq": str(lq), "gt_size": 16,
                      "batch_size_per_gpu": 2},
            "val": {"type": "PairedImageDataset", "dataroot_gt": str(vgt), "dataroot_lq": str(vlq)},
        },
        "network_g": {"type": "RRDBNet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4},
        "path": {"experiments_root": str(tmp_path / "exp")},
        "train": {"total_iter": 8, "optim_g": {"type": "Adam", "lr": 1e-3}, "ema_decay": 0.9,
                  "scheduler": {"type": "MultiStepLR", "milestones": [5], "gamma": 0.5}, "warmup_iter": 2},
        "val": {"val_freq": 4, "metrics": ["psnr"]},
        "logger": {"print_freq": 2, "save_checkpoint_freq": 4, "use_tb_logger": False},
    }
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(opt))
    return path


def run_cli(*args, cwd=ROOT, env=None):
    """Run `python *args` as a user would; returns the CompletedProcess."""
    import subprocess

    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(autouse=True)
def _fixed_threads():
    torch.set_num_threads(2)
    yield


def leaves(tree, prefix=""):
    """(path, value) of every leaf of nested dicts and lists, e.g. ("/model/nets/g/conv.weight", tensor)."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, f"{prefix}/{key}")
    elif isinstance(tree, (list, tuple)):
        for index, value in enumerate(tree):
            yield from leaves(value, f"{prefix}/{index}")
    else:
        yield prefix, tree


def checkpoint_differences(a_path: Path, b_path: Path) -> list[str]:
    """The leaves of two checkpoints (all but the options) that are not equal: [] when resume was exact."""
    from deflow import checkpoint

    a, b = checkpoint.load(a_path), checkpoint.load(b_path)
    a.pop("options"), b.pop("options")
    a, b = dict(leaves(a)), dict(leaves(b))
    if a.keys() != b.keys():
        return sorted(a.keys() ^ b.keys())
    return [path for path, value in a.items()
            if not (torch.equal(value, b[path]) if torch.is_tensor(value) else value == b[path])]


def call_main(main, *args) -> tuple[int, str, str]:
    """Run a CLI `main(argv)` in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            returned = main([str(a) for a in args])
            code = returned if isinstance(returned, int) else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def main_in_process():
    return call_main


@pytest.fixture
def tiny_deflow_config(tmp_path) -> Path:
    """confs/cpu/deflow-tiny.yml shrunk (K=1, width 8, a 1-block encoder) on 32 px crops of three photos."""
    return write_tiny_deflow_config(tmp_path)


def write_tiny_deflow_config(tmp_path: Path) -> Path:
    """tiny_deflow_config's files under `tmp_path`; returns the config's path."""
    from deflow.imageio import write_image
    from deflow.tools.sample_photos import photo

    data = tmp_path / "deflow_data"
    noise = torch.Generator().manual_seed(0)
    for domain, names in (("clean", ["astronaut", "coffee"]), ("degraded", ["rocket"])):
        for name in names:
            img = photo(name)[:, :96, :128]
            if domain == "degraded":
                img = (img + 0.03 * torch.randn(img.shape, generator=noise)).clamp(0, 1)
            write_image(data / domain / "gt" / f"{name}.png", img)
            write_image(data / domain / "lq" / f"{name}.png", F.avg_pool2d(img[None], 4)[0])
    opt = yaml.safe_load((ROOT / "confs/cpu/deflow-tiny.yml").read_text())
    opt["datasets"]["train"].update(
        dataroot_clean_gt=str(data / "clean/gt"), dataroot_clean_lq=str(data / "clean/lq"),
        dataroot_degraded_gt=str(data / "degraded/gt"), dataroot_degraded_lq=str(data / "degraded/lq"), gt_size=32,
        batch_size_per_gpu=2)
    opt["network_g"].update(K=1, hidden_channels=8, cond_nf=8, cond_nb=1, cond_gc=4)
    opt["train"].update(total_iter=6, warmup_iter=0, ema_decay=0.9)
    opt["logger"] = {"print_freq": 3, "save_checkpoint_freq": 3, "use_tb_logger": False}
    opt["path"] = {"experiments_root": str(tmp_path / "deflow_exp")}
    path = tmp_path / "deflow_tiny.yml"
    path.write_text(yaml.safe_dump(opt))
    return path


@pytest.fixture
def toy_two_stage_config(tmp_path) -> Path:
    """ToyTwoStageModel (tests/deflow/toy_models.py) on four 32 px crops, LQ = GT (scale 1)."""
    import tests.deflow.toy_models  # noqa: F401  (registers the toy model types)

    gt, _ = write_pairs(tmp_path / "toy", 4, 32, 1)
    opt = {
        "name": "toy", "model_type": "ToyTwoStageModel", "num_gpu": 0, "manual_seed": 5,
        "datasets": {"train": {"type": "PairedImageDataset", "dataroot_gt": str(gt), "dataroot_lq": str(gt),
                               "gt_size": 16, "batch_size_per_gpu": 2}},
        "network_g": {"type": "ToyConv"}, "network_d": {"type": "ToyConv"},
        "path": {"experiments_root": str(tmp_path / "toy_exp")},
        "train": {"total_iter": 8, "optim_g": {"type": "Adam", "lr": 1e-2}, "optim_d": {"type": "Adam", "lr": 1e-2},
                  "scheduler": {"type": "StepLR", "step_size": 2, "gamma": 0.5},
                  "scheduler_d": {"type": "StepLR", "step_size": 1, "gamma": 0.9}, "ema_decay": 0.9,
                  "net_d_iters": 2, "net_d_init_iters": 2},
        "logger": {"print_freq": 2, "save_checkpoint_freq": 1, "keep_last": 100, "use_tb_logger": False},
    }
    path = tmp_path / "toy.yml"
    path.write_text(yaml.safe_dump(opt))
    return path


@pytest.fixture
def tiny_esrgan_config(tiny_sr_config) -> Path:
    """tiny_sr_config as an ESRGANModel: a 4-wide U-Net discriminator on its 16 px crops, RaGAN, pixel loss 1e-2,
    D alone at iteration 1, D's own schedule."""
    opt = yaml.safe_load(tiny_sr_config.read_text())
    opt["model_type"] = "ESRGANModel"
    opt["network_d"] = {"type": "UNetDiscriminatorSN", "num_feat": 4}
    opt["train"].update(optim_d={"type": "Adam", "lr": 1e-3}, scheduler_d={"type": "StepLR", "step_size": 3, "gamma": 0.5},
                        pixel_opt={"type": "L1Loss", "loss_weight": 1e-2}, net_d_init_iters=1,
                        gan_opt={"type": "GANLoss", "gan_type": "ragan", "loss_weight": 5e-3})
    path = tiny_sr_config.with_name("tiny_esrgan.yml")
    path.write_text(yaml.safe_dump(opt))
    return path
