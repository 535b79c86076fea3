"""The file formats the datasets meet, read through deflow.imageio."""
import cv2
import numpy as np
import torch

from deflow.data import SingleImageDataset
from deflow.imageio import image_size, read_image, write_image


def test_16_bit_png_keeps_its_precision(tmp_path, photo):
    img = photo(20, 30) * 0.99 + 1 / 65535  # not representable in 8 bit
    write_image(tmp_path / "deep.png", img, bits=16)
    assert cv2.imread(str(tmp_path / "deep.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    torch.testing.assert_close(read_image(tmp_path / "deep.png"), img, rtol=0, atol=0.5 / 65535)


def test_grayscale_is_repeated_to_rgb(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    img = read_image(tmp_path / "gray.png")
    assert img.shape == (3, 3, 4)
    for channel in img:
        torch.testing.assert_close(channel, torch.from_numpy(gray).float() / 255)


def test_rgba_is_composited_over_white_and_channels_are_rgb(tmp_path):
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 2] = 255  # red in OpenCV's BGR order
    bgra[0, 0, 3], bgra[0, 1, 3], bgra[1, :, 3] = 255, 0, 255
    cv2.imwrite(str(tmp_path / "rgba.png"), bgra)
    img = read_image(tmp_path / "rgba.png")
    assert img[:, 0, 0].tolist() == [1.0, 0.0, 0.0]  # opaque red
    assert img[:, 0, 1].tolist() == [1.0, 1.0, 1.0]  # transparent -> white


def test_image_size_reads_the_header_and_writes_leave_no_partial_file(tmp_path, photo):
    write_image(tmp_path / "a.png", photo(21, 34))
    assert image_size(tmp_path / "a.png") == (21, 34)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]


def test_single_image_dataset_reads_mixed_formats(tmp_path, photo):
    write_image(tmp_path / "a.jpg", photo(8, 8))
    write_image(tmp_path / "b.png", photo(8, 8), bits=16)
    cv2.imwrite(str(tmp_path / "c.png"), np.full((8, 8), 128, np.uint8))
    ds = SingleImageDataset({"name": "mixed", "phase": "val", "scale": 1, "dataroot_lq": str(tmp_path)})
    assert [ds[k]["lq"].shape for k in range(3)] == [(3, 8, 8)] * 3
    assert all(ds[k]["lq"].dtype == torch.float32 for k in range(3))


def test_images_taller_than_a_band_are_written_as_a_whole_conversion_would(tmp_path, photo, monkeypatch):
    import deflow.imageio as imageio
    monkeypatch.setattr(imageio, "WRITE_ROWS", 7)  # 20 rows: bands of 7, 7 and 6
    img = photo(20, 9) * 1.2 - 0.1  # out of range on both sides: clamped
    for bits, peak, dtype in ((8, 255.0, np.uint8), (16, 65535.0, np.uint16)):
        write_image(tmp_path / f"{bits}.png", img, bits=bits)
        whole = np.round(img.clamp(0, 1).permute(1, 2, 0).numpy()[:, :, ::-1] * peak).astype(dtype)
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / f"{bits}.png"), cv2.IMREAD_UNCHANGED), whole)


def test_writers_of_the_same_file_side_by_side_all_succeed(tmp_path):
    """Two threads writing one path at once (two trainings building the same conditioning folder): each writes its
    own part file, so neither renames the other's away."""
    import threading

    img = torch.rand(3, 64, 64)
    path, errors = tmp_path / "same.png", []
    start = threading.Barrier(2)

    def writer():
        start.wait()
        for _ in range(200):
            try:
                write_image(path, img)
            except Exception as exc:  # noqa: BLE001 - the test reports whatever a writer raised
                errors.append(exc)
    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    torch.testing.assert_close(read_image(path), (img * 255).round() / 255, rtol=0, atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.png"]  # no part file left
