"""Metrics: PSNR, SSIM, colorfulness and ΔCF against known answers; the ``eval`` command."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import assert_one_line_error

from filmcolor import metrics
from filmcolor.cli import main


def pattern_pair() -> tuple[np.ndarray, np.ndarray]:
    """A deterministic uint8 reference (40×48) and a perturbed candidate (no RNG involved)."""
    y, x = np.mgrid[0:40, 0:48]
    channels = [(3 * x + 2 * y) % 256, (5 * y + x * x // 7) % 256, (x * y) % 256]
    ref = np.stack(channels, -1).astype(np.uint8)
    noise = ((x * 7 + y * 11) % 41 - 20)[..., None]
    cand = np.clip(ref.astype(int) + noise, 0, 255).astype(np.uint8)
    return ref, cand


# Reference values for pattern_pair(), computed once with scikit-image 0.26.0 (not a test
# dependency), with r, c = ref / 255, cand / 255 and y601(a) = 0.299 R + 0.587 G + 0.114 B:
#   peak_signal_noise_ratio(ref, cand, data_range=255)                  = 26.81949776827855
#   structural_similarity(y601(r), y601(c), **KW)                       = 0.7450983633432939
#   structural_similarity(r, c, channel_axis=-1, **KW)                  = 0.7276762773106911
# with KW = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1).
SKIMAGE_PSNR = 26.81949776827855
SKIMAGE_SSIM_Y601 = 0.7450983633432939
SKIMAGE_SSIM_RGB = 0.7276762773106911


def to_batch(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a / 255.0).permute(2, 0, 1)[None].float()


# --- PSNR ---------------------------------------------------------------------------------------


def test_psnr_identical_is_inf() -> None:
    ref, _ = pattern_pair()
    assert metrics.psnr(ref, ref) == math.inf


def test_psnr_known_error_is_closed_form() -> None:
    ref = np.full((16, 16, 3), 0.5)
    # An error of ±0.1 everywhere: MSE = 0.01, PSNR = 10 log10(1 / 0.01) = 20 dB.
    sign = np.where(np.indices((16, 16)).sum(0) % 2 == 0, 1.0, -1.0)[..., None]
    assert metrics.psnr(ref + 0.1 * sign, ref) == pytest.approx(20.0, abs=1e-9)
    # peak scales it: 10 log10(4 / 0.01).
    assert metrics.psnr(ref + 0.1 * sign, ref, peak=2.0) == pytest.approx(26.0206, abs=1e-4)


def test_psnr_matches_skimage_reference() -> None:
    ref, cand = pattern_pair()
    assert metrics.psnr(cand, ref) == pytest.approx(SKIMAGE_PSNR, abs=1e-9)


# --- SSIM ---------------------------------------------------------------------------------------


def test_ssim_identical_is_one() -> None:
    ref, _ = pattern_pair()
    assert metrics.ssim(ref, ref) == pytest.approx(1.0, abs=1e-12)
    assert metrics.ssim_rgb(ref, ref) == pytest.approx(1.0, abs=1e-12)


def test_ssim_matches_skimage_reference() -> None:
    ref, cand = pattern_pair()
    assert metrics.ssim(cand, ref) == pytest.approx(SKIMAGE_SSIM_Y601, abs=1e-9)
    assert metrics.ssim_rgb(cand, ref) == pytest.approx(SKIMAGE_SSIM_RGB, abs=1e-9)


def test_ssim_is_symmetric_and_needs_11_pixels() -> None:
    ref, cand = pattern_pair()
    assert metrics.ssim(ref, cand) == pytest.approx(metrics.ssim(cand, ref), abs=1e-12)
    with pytest.raises(ValueError, match="11"):
        metrics.ssim(ref[:10], cand[:10])


def test_batch_versions_agree_float32() -> None:
    ref, cand = pattern_pair()
    r = torch.cat([to_batch(ref), to_batch(ref)])
    c = torch.cat([to_batch(cand), to_batch(ref)])
    p = metrics.psnr_batch(c, r)
    assert p.shape == (2,) and p[0].item() == pytest.approx(SKIMAGE_PSNR, abs=1e-3)
    assert p[1].item() == math.inf
    s = metrics.ssim_batch(c, r)
    assert s[0].item() == pytest.approx(SKIMAGE_SSIM_Y601, abs=1e-5)
    assert s[1].item() == pytest.approx(1.0, abs=1e-5)
    assert metrics.ssim_rgb_batch(c, r)[0].item() == pytest.approx(SKIMAGE_SSIM_RGB, abs=1e-5)
    cf = metrics.colorfulness_batch(c)
    assert cf[0].item() == pytest.approx(metrics.colorfulness(cand), rel=1e-5)


def test_shape_mismatch_is_value_error() -> None:
    ref, _ = pattern_pair()
    with pytest.raises(ValueError):
        metrics.psnr(ref, ref[:20])
    with pytest.raises(ValueError):
        metrics.ssim_batch(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, 16, 16))


# --- colorfulness -------------------------------------------------------------------------------


def test_colorfulness_gray_is_zero() -> None:
    _, x = np.mgrid[0:20, 0:30]
    gray = np.repeat((x / 29.0)[..., None], 3, axis=2)
    assert metrics.colorfulness(gray) == pytest.approx(0.0, abs=1e-9)


def test_colorfulness_red_green_halves_closed_form() -> None:
    img = np.zeros((10, 20, 3))
    img[:, :10, 0] = 1.0  # red half
    img[:, 10:, 1] = 1.0  # green half
    # rg = ±255 → σ_rg = 255, μ_rg = 0; yb = 127.5 everywhere → σ_yb = 0, μ_yb = 127.5.
    assert metrics.colorfulness(img) == pytest.approx(255 + 0.3 * 127.5, abs=1e-9)


def test_colorfulness_matches_plain_numpy() -> None:
    _, cand = pattern_pair()
    r, g, b = (cand.astype(np.float64)[..., i] for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    expected = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    assert metrics.colorfulness(cand) == pytest.approx(expected, abs=1e-9)


def test_delta_colorfulness() -> None:
    gray = np.full((12, 12, 3), 0.5)
    red = np.zeros((12, 12, 3))
    red[..., 0] = 1.0  # uniform: σ = 0, μ_rg = 255, μ_yb = 127.5 → CF = 0.3 √(255² + 127.5²)
    cf_red = 0.3 * math.hypot(255, 127.5)
    assert metrics.colorfulness(red) == pytest.approx(cf_red, abs=1e-9)
    assert metrics.delta_colorfulness([gray, red], [red, red]) == pytest.approx(cf_red / 2)
    with pytest.raises(ValueError):
        metrics.delta_colorfulness([gray], [])


def test_evaluate_pairs_means_and_per_image() -> None:
    ref, cand = pattern_pair()
    out = metrics.evaluate_pairs([ref, ref], [cand, ref], names=["a", "b"])
    assert out["count"] == 2
    assert [m["name"] for m in out["per_image"]] == ["a", "b"]
    assert out["per_image"][0]["psnr"] == pytest.approx(SKIMAGE_PSNR, abs=1e-9)
    assert out["ssim"] == pytest.approx((SKIMAGE_SSIM_Y601 + 1) / 2, abs=1e-9)
    assert out["psnr"] == math.inf
    cf_c = (metrics.colorfulness(cand) + metrics.colorfulness(ref)) / 2
    assert out["colorfulness_candidate"] == pytest.approx(cf_c)
    assert out["colorfulness_reference"] == pytest.approx(metrics.colorfulness(ref))
    expected_dcf = abs(metrics.colorfulness(cand) - metrics.colorfulness(ref)) / 2
    assert out["delta_colorfulness"] == pytest.approx(expected_dcf)


def test_image_metrics_float32_ssim_close_to_float64() -> None:
    # Video frames are scored with float32 SSIM, within 1e-5 of the float64 figures.
    ref, cand = pattern_pair()
    exact = metrics.image_metrics(ref, cand)
    fast = metrics.image_metrics(ref, cand, np.float32)
    assert exact["ssim"] == pytest.approx(SKIMAGE_SSIM_Y601, abs=1e-9)
    assert exact["ssim_rgb"] == pytest.approx(SKIMAGE_SSIM_RGB, abs=1e-9)
    assert fast["ssim"] == pytest.approx(exact["ssim"], abs=1e-5)
    assert fast["ssim_rgb"] == pytest.approx(exact["ssim_rgb"], abs=1e-5)
    assert fast["psnr"] == exact["psnr"] == pytest.approx(SKIMAGE_PSNR, abs=1e-9)
    # 8-bit and float input agree (uint8 takes exact integer paths).
    for key in ("colorfulness_candidate", "colorfulness_reference"):
        as_float = metrics.image_metrics(ref / 255.0, cand / 255.0)
        assert as_float[key] == pytest.approx(exact[key], abs=1e-9)


def test_rgb_to_ab_matches_the_colour_module() -> None:
    from filmcolor.color import rgb_to_lab

    levels = np.arange(0, 256, 15, dtype=np.uint8)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 1, 3)
    torch_ab = rgb_to_lab(torch.from_numpy(grid / 255.0).permute(2, 0, 1).float())[1:]
    np.testing.assert_allclose(metrics.rgb_to_ab(grid), torch_ab.numpy(), atol=1e-3)


def test_constants_match_the_colour_module_and_eval_loads_no_torch() -> None:
    from filmcolor import color
    from filmcolor.metrics import image, video

    assert (image.KR, image.KB) == color.KR_KB["bt601"]
    lab = (video._WHITE, video._RGB2XYZ, video._EPS, video._KAPPA)
    assert lab == (color._WHITE, color._RGB2XYZ, color._EPS, color._KAPPA)
    # Importing torch takes seconds: the metrics and the eval command do without it.
    code = "import sys, filmcolor.metrics, filmcolor.plot; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# --- filmcolor eval -----------------------------------------------------------------------------


def write_png(path: Path, rgb: np.ndarray) -> Path:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    buf.tofile(str(path))
    return path


def run_eval(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["eval", *(str(a) for a in args)])
    return result.exit_code, result.stdout, result.stderr


def test_eval_two_images_json(tmp_path: Path) -> None:
    ref, cand = pattern_pair()
    r, c = write_png(tmp_path / "r.png", ref), write_png(tmp_path / "c.png", cand)
    code, out, err = run_eval(r, c, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["count"] == 1
    assert data["psnr"] == pytest.approx(SKIMAGE_PSNR, abs=1e-9)
    assert data["ssim"] == pytest.approx(SKIMAGE_SSIM_Y601, abs=1e-9)
    assert data["per_image"][0]["candidate"] == str(c)


def test_eval_identical_json_psnr_is_null(tmp_path: Path) -> None:
    ref, _ = pattern_pair()
    r = write_png(tmp_path / "r.png", ref)
    code, out, _ = run_eval(r, r, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["psnr"] is None and data["ssim"] == pytest.approx(1.0)


def test_eval_folders_pair_by_stem_and_warn_unpaired(tmp_path: Path) -> None:
    ref, cand = pattern_pair()
    (tmp_path / "ref").mkdir()
    (tmp_path / "out").mkdir()
    write_png(tmp_path / "ref" / "a.png", ref)
    write_png(tmp_path / "ref" / "b.png", ref)
    write_png(tmp_path / "ref" / "lonely.png", ref)
    write_png(tmp_path / "out" / "a.png", cand)
    write_png(tmp_path / "out" / "b.png", ref)
    code, out, err = run_eval(tmp_path / "ref", tmp_path / "out", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["count"] == 2
    assert [m["name"] for m in data["per_image"]] == ["a", "b"]
    assert data["unpaired"] == [str(tmp_path / "ref" / "lonely.png")]
    assert "warning" in err and "lonely.png" in err
    # The table form goes to stdout too, with a mean row.
    code, out, _ = run_eval(tmp_path / "ref", tmp_path / "out")
    assert code == 0 and "mean of 2" in out and "PSNR" in out


def test_eval_size_mismatch_exit_3(tmp_path: Path) -> None:
    ref, _ = pattern_pair()
    r = write_png(tmp_path / "r.png", ref)
    c = write_png(tmp_path / "c.png", np.ascontiguousarray(ref[:30]))
    code, out, err = run_eval(r, c)
    assert code == 3
    assert out == ""
    assert_one_line_error(err, "c.png", "48x30")


def test_eval_no_pairs_exit_3(tmp_path: Path) -> None:
    ref, _ = pattern_pair()
    (tmp_path / "ref").mkdir()
    (tmp_path / "out").mkdir()
    write_png(tmp_path / "ref" / "a.png", ref)
    write_png(tmp_path / "out" / "b.png", ref)
    code, _, err = run_eval(tmp_path / "ref", tmp_path / "out")
    assert code == 3
    assert "nothing to pair" in err


def test_eval_missing_file_exit_3_and_folder_vs_file_exit_2(tmp_path: Path) -> None:
    ref, _ = pattern_pair()
    r = write_png(tmp_path / "r.png", ref)
    code, _, err = run_eval(r, tmp_path / "nope.png")
    assert code == 3
    assert_one_line_error(err, "nope.png")
    code, _, err = run_eval(tmp_path, r)
    assert code == 2
    assert_one_line_error(err, "folder")
