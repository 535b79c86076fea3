"""The camera benchmark's pieces: its camera model, the classifier two-sample test, the white-noise fit, the split,
the summary."""
import pytest
import torch

from deflow.errors import UserError
from deflow.tools.bench_report import summarize
from deflow.tools.benchmark import check_settings, fit_white_noise_sigma, parse_args
from deflow.tools.camera import Camera, CameraParams
from deflow.tools.photo_sets import noise_std
from deflow.tools.sample_photos import photo, write_photo_set
from metrics.realism import c2st_accuracy, sample_patches


@pytest.fixture(scope="module")
def photos() -> list[torch.Tensor]:
    return [photo(name) for name in ("astronaut", "coffee", "rocket", "chelsea")]


@pytest.fixture
def one_thread():
    """The test's small CNN trains fastest on one thread; two thrash on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_camera_is_bit_identical_for_a_seed_and_differs_across_seeds(photos):
    hr = torch.stack([photos[0][:, 100:164, 200:264], photos[1][:, 50:114, 300:364]])
    camera = Camera(CameraParams())
    first = camera(hr, torch.Generator().manual_seed(7))
    again = camera(hr, torch.Generator().manual_seed(7))
    other = camera(hr, torch.Generator().manual_seed(8))
    assert first.shape == (2, 3, 32, 32)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert 0 <= float(first.min()) and float(first.max()) <= 1


def test_camera_noise_is_signal_dependent_and_strong_enough_to_matter(photos):
    flat = torch.full((1, 3, 128, 128), 0.2), torch.full((1, 3, 128, 128), 0.8)
    camera = Camera(CameraParams(isp="srgb", jpeg_quality=0, blur_sigma=0))
    stds = [float(camera(x, torch.Generator().manual_seed(0)).std()) * 255 for x in flat]
    assert stds[0] != pytest.approx(stds[1], rel=0.1)
    assert min(stds) > 3


def test_camera_parameters_reject_unknown_keys():
    with pytest.raises(UserError, match="read_sd"):
        CameraParams.from_dict({"read_sd": 0.01})


def test_c2st_is_near_chance_for_two_samples_of_one_distribution(photos, one_thread):
    a = sample_patches(photos, 400, 32, torch.Generator().manual_seed(0))
    b = sample_patches(photos, 400, 32, torch.Generator().manual_seed(1))
    assert 0.35 <= c2st_accuracy(a, b, seed=0, steps=60, batch_size=32) <= 0.65


def test_c2st_separates_clean_from_heavily_noised_patches(photos, one_thread):
    a = sample_patches(photos, 400, 32, torch.Generator().manual_seed(0))
    b = sample_patches(photos, 400, 32, torch.Generator().manual_seed(1))
    noised = (b + 0.1 * torch.randn(b.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    assert c2st_accuracy(a, noised, seed=0, steps=60, batch_size=32) > 0.9


def test_white_noise_fit_recovers_a_known_noise_level(photos):
    clean = [img[:, :128, :128] for img in photos]
    noisy = [(img + 12 / 255 * torch.randn(img.shape, generator=torch.Generator().manual_seed(i))).clamp(0, 1)
             for i, img in enumerate(clean)]
    target = sum(noise_std(img) for img in noisy) / len(noisy)
    assert fit_white_noise_sigma(clean, target) == pytest.approx(12, abs=1.5)


def test_overlapping_photo_sets_are_a_user_error():
    with pytest.raises(UserError, match="disjoint"):
        check_settings(parse_args(["--real", "coffee", "--test", "coffee", "chelsea"]))


def test_gap_closed_is_paired_by_seed():
    def run(method, seed, psnr, ssim):
        return {"method": method, "seed": seed, "psnr": psnr, "ssim": ssim, "lpips": None, "c2st_vs_camera": 0.5,
                "c2st_vs_real_domain": 0.5, "lr_noise_std_8bit": 1.0, "per_image": {"a": {"psnr": psnr}}}

    results = [run("bicubic", 0, 20.0, 0.4), run("oracle", 0, 24.0, 0.6), run("deflow", 0, 23.0, 0.45),
               run("bicubic", 1, 21.0, 0.5), run("oracle", 1, 23.0, 0.7), run("deflow", 1, 21.5, 0.65)]
    summary = summarize(results, ("bicubic", "deflow", "oracle"))
    assert summary["deflow"]["gap_closed_psnr"]["values"] == pytest.approx([0.75, 0.25])
    assert summary["deflow"]["gap_closed_ssim"]["values"] == pytest.approx([0.25, 0.75])
    # unpaired, (22.25 - 20.5) / (23.5 - 20.5) would be 0.583, not the mean of the pairs
    assert summary["deflow"]["gap_closed_psnr"]["mean"] == pytest.approx(0.5)
    assert summary["deflow"]["psnr"]["std"] == pytest.approx(1.0607, abs=1e-4)
    assert list(summary) == ["bicubic", "deflow", "oracle"]


def test_photo_sets_take_own_image_files_and_folders(tmp_path, photos):
    from deflow.imageio import write_image
    (tmp_path / "mine").mkdir()
    for i, img in enumerate(photos[:2]):
        write_image(tmp_path / "mine" / f"shot{i}.png", img[:, :64, :64])
    write_image(tmp_path / "single.png", photos[2][:, :64, :64])
    split, _, _ = check_settings(parse_args(["--real", str(tmp_path / "mine"), "--test", "chelsea",
                                             "--clean", str(tmp_path / "single.png"), "rocket"]))
    assert split["real"] == [str((tmp_path / "mine" / f"shot{i}.png").resolve()) for i in range(2)]
    assert split["clean"] == [str((tmp_path / "single.png").resolve()), "rocket"]
    written = write_photo_set(tmp_path / "set", split["clean"], multiple=8)
    assert [p.name for p in written] == ["single.png", "rocket.png"]
    with pytest.raises(UserError, match="nosuch.png: neither a skimage photo"):
        check_settings(parse_args(["--real", str(tmp_path / "nosuch.png")]))
    with pytest.raises(UserError, match="shot0 is in both"):
        check_settings(parse_args(["--real", str(tmp_path / "mine"), "--test", str(tmp_path / "mine" / "shot0.png")]))
