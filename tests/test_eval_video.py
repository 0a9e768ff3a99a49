"""Temporal metrics (CDC, warp error) against hand-computed values; ``filmcolor eval`` on videos."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from mediagen import make_video

from filmcolor import metrics
from filmcolor.cli import main
from filmcolor.media.frames import VideoReader, frame_colour

LN2 = math.log(2)
#: JS([½, ½], [0, 1]) = ½ KL(p‖m) + ½ KL(q‖m) with m = [¼, ¾]:
#: KL(p‖m) = ½ ln 2 + ½ ln ⅔ = ½ ln(4/3), KL(q‖m) = ln(4/3), so JS = ¾ ln(4/3).
JS_HALF_VS_ONE = 0.75 * math.log(4 / 3)


# --- Jensen–Shannon divergence and CDC ----------------------------------------------------------


def test_js_divergence_hand_computed() -> None:
    assert metrics.js_divergence([1, 0], [0, 1]) == pytest.approx(LN2, abs=1e-12)
    assert metrics.js_divergence([0.5, 0.5], [0, 1]) == pytest.approx(JS_HALF_VS_ONE, abs=1e-12)
    # 4 bins, m = [3/8, 1/8, 3/8, 1/8]: KL(p‖m) = ¼ ln ⅔ + ¼ ln 2 + ½ ln(4/3) = ¾ ln(4/3),
    # and KL(q‖m) is the same by symmetry.
    p, q = [0.25, 0.25, 0.5, 0.0], [0.5, 0.0, 0.25, 0.25]
    assert metrics.js_divergence(p, q) == pytest.approx(0.75 * math.log(4 / 3), abs=1e-12)
    # Counts are normalised first; equal histograms give 0; rows are independent.
    assert metrics.js_divergence([2, 2], [0, 7]) == pytest.approx(JS_HALF_VS_ONE, abs=1e-12)
    assert metrics.js_divergence([3, 1, 0], [3, 1, 0]) == 0.0
    rows = metrics.js_divergence(np.array([[1, 0], [1, 1]]), np.array([[0, 1], [0, 1]]))
    np.testing.assert_allclose(rows, [LN2, JS_HALF_VS_ONE], atol=1e-12)


def test_histograms_bins() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[0, 0] = (255, 7, 0)
    h = metrics.rgb_histograms(rgb)
    assert h.shape == (3, 256)
    np.testing.assert_allclose(h.sum(axis=1), 1.0)
    assert h[0, 255] == 0.25 and h[0, 0] == 0.75 and h[1, 7] == 0.25 and h[2, 0] == 1.0
    # Floats in [0, 1] are binned as their 8-bit code round(255 x).
    np.testing.assert_array_equal(metrics.rgb_histograms(rgb / 255.0), h)
    # Lab a/b: bins of width 1 over [-128, 128), bin floor(v) + 128, the rest clipped.
    ab = np.array([[[-128.0, -0.5, 0.0, 127.5, 300.0]], [[-500.0, 0.2, 0.9, 1.0, -1.0]]])
    hab = metrics.ab_histograms(ab)
    assert hab.shape == (2, 256)
    for bin_ in (0, 127, 128, 255):
        assert hab[0, bin_] == pytest.approx(0.4 if bin_ == 255 else 0.2)
    assert hab[1, 0] == 0.2 and hab[1, 128] == 0.4 and hab[1, 129] == 0.2 and hab[1, 127] == 0.2


def solid(rgb: tuple[int, int, int], h: int = 12, w: int = 16) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


def test_cdc_identical_frames_is_zero() -> None:
    y, x = np.mgrid[0:24, 0:32]
    frame = np.stack([x * 8, y * 10, (x + y) * 4], -1).astype(np.uint8)
    assert metrics.cdc([frame] * 6) == 0.0
    assert metrics.cdc([frame] * 6, "chroma") == 0.0


def test_cdc_alternating_frames_hand_computed() -> None:
    # Half black / half white against all white: per channel JS([½, ½], [0, 1]) at odd
    # distances (d = 1) and 0 at even ones (d = 2, 4): CDC = ⅓ (JS + 0 + 0).
    half = solid((255, 255, 255))
    half[:, :8] = 0
    white = solid((255, 255, 255))
    frames = [half, white] * 4
    assert metrics.cdc(frames) == pytest.approx(JS_HALF_VS_ONE / 3, abs=1e-12)
    # Black and white have the same chroma (a = b = 0): no chroma change at all.
    assert metrics.cdc(frames, "chroma") == pytest.approx(0.0, abs=1e-12)
    # Pure red / pure green: R and G histograms disjoint (ln 2), B equal (0): channel mean
    # ⅔ ln 2; a and b of red (80, 67) and green (-86, 83) fall in different bins: ln 2.
    red, green = solid((255, 0, 0)), solid((0, 255, 0))
    assert metrics.cdc([red, green] * 3) == pytest.approx(2 / 3 * LN2 / 3, abs=1e-12)
    assert metrics.cdc([red, green] * 3, "chroma") == pytest.approx(LN2 / 3, abs=1e-12)


def test_cdc_streaming_short_sequences_and_memory() -> None:
    red, green = solid((255, 0, 0)), solid((0, 255, 0))
    meter = metrics.CDC()
    assert math.isnan(meter.value)
    for frame in [red, green, red]:
        meter.update(metrics.rgb_histograms(frame))
    # Three frames: pairs at d = 1 (2 of them, both ⅔ ln 2) and d = 2 (1, equal: 0) only.
    per_d = meter.per_dilation
    assert per_d[1] == pytest.approx(2 / 3 * LN2) and per_d[2] == 0.0 and math.isnan(per_d[4])
    assert meter.value == pytest.approx(LN2 / 3)
    for frame in [green, red] * 10:
        meter.update(metrics.rgb_histograms(frame))
    assert len(meter._recent) == 4  # only the last four histograms are kept


# --- warp error ---------------------------------------------------------------------------------


def test_warp_error_single_pair_hand_computed() -> None:
    h, w = 6, 8
    flow = np.zeros((h, w, 2), np.float32)
    full = np.ones((h, w), bool)
    prev = np.full((h, w, 3), 0.2, np.float32)
    # A uniform change of 0.1 on every channel: squared error 0.01 everywhere.
    assert metrics.warp_error(prev, prev + 0.1, flow, full) == pytest.approx(0.01, rel=1e-6)
    # Chroma scale: (a, b)/100 from (0, 0) to (30, -40): ((0.3)² + (0.4)²) / 2 = 0.125.
    ab0 = np.zeros((h, w, 2), np.float32)
    ab1 = np.stack([np.full((h, w), 0.3), np.full((h, w), -0.4)], -1).astype(np.float32)
    assert metrics.warp_error(ab0, ab1, flow, full) == pytest.approx(0.125, rel=1e-6)
    # Only trusted pixels count, and the mean is over them.
    left = np.zeros((h, w), bool)
    left[:, : w // 2] = True
    nxt = np.zeros((h, w, 1), np.float32)
    nxt[:, : w // 2] = 1.0
    zero = np.zeros((h, w, 1), np.float32)
    assert metrics.warp_error(zero, nxt, flow, left) == pytest.approx(1.0)
    assert metrics.warp_error(zero, nxt, flow, ~left) == 0.0
    assert metrics.warp_error(zero, nxt, flow, full) == pytest.approx(0.5)
    assert math.isnan(metrics.warp_error(zero, nxt, flow, np.zeros((h, w), bool)))
    # A known translation: next = prev shifted right by 2 px, flow (2, 0): warp error 0.
    ramp = np.tile(np.arange(w, dtype=np.float32), (h, 1))[..., None]
    shifted = np.roll(ramp, 2, axis=1)
    flow2 = np.zeros((h, w, 2), np.float32)
    flow2[..., 0] = 2
    inside = np.zeros((h, w), bool)
    inside[:, : w - 2] = True
    assert metrics.warp_error(ramp, shifted, flow2, inside) == pytest.approx(0.0, abs=1e-6)


def texture(h: int, w: int, shift: float = 0.0) -> np.ndarray:
    """A smooth colour texture, moved right by ``shift`` pixels, uint8 RGB."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    x = x - shift
    r = 128 + 90 * np.sin(x / 3.1) * np.cos(y / 4.3)
    g = 128 + 80 * np.cos(x / 5.7 + y / 3.9)
    b = 128 + 70 * np.sin((x + 2 * y) / 4.7)
    return np.clip(np.stack([r, g, b], -1), 0, 255).round().astype(np.uint8)


def test_video_warp_error_static_scene() -> None:
    still = texture(48, 64)
    assert metrics.video_warp_error([still] * 4, [still] * 4) == pytest.approx(0.0, abs=1e-9)
    # The candidate changes uniformly by +0.1 (25.5 codes → 26/255) every frame.
    base = np.full((48, 64, 3), 60, np.uint8)
    cands = [base + 26 * i for i in range(4)]
    expected = (26 / 255) ** 2
    got = metrics.video_warp_error([still] * 4, cands)
    assert got == pytest.approx(expected, rel=1e-3)


def test_video_warp_error_follows_motion_vs_flicker() -> None:
    refs = [texture(48, 64, shift=1.5 * t) for t in range(6)]
    follow = metrics.video_warp_error(refs, refs)
    follow_ab = metrics.video_warp_error(refs, refs, "chroma")
    tint = np.array([40, -25, -30])
    flicker = [
        np.clip(f.astype(int) + (tint if t % 2 else 0), 0, 255).astype(np.uint8)
        for t, f in enumerate(refs)
    ]
    jumpy = metrics.video_warp_error(refs, flicker)
    jumpy_ab = metrics.video_warp_error(refs, flicker, "chroma")
    assert follow < 2e-3 and follow_ab < 2e-3
    assert jumpy > 10 * follow and jumpy_ab > 10 * follow_ab
    # The streaming meter gives the same figures, per step and in total.
    meter = metrics.TemporalMeter()
    steps = [meter.update(r, c) for r, c in zip(refs, flicker, strict=True)]
    assert math.isnan(steps[0]["warp_error_rgb_candidate"])
    result = meter.result()
    assert result["warp_error_rgb"] == pytest.approx(jumpy)
    assert result["reference_warp_error_rgb"] == pytest.approx(follow)
    assert result["warp_pairs"] == 5
    mean = np.mean([s["warp_error_chroma_candidate"] for s in steps[1:]])
    assert result["warp_error_chroma"] == pytest.approx(mean)


# --- colour interpretation ----------------------------------------------------------------------


def yuv_frame(h: int, w: int, colorspace: int) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(solid((200, 50, 30), h, w), format="rgb24")
    frame = frame.reformat(format="yuv420p")
    frame.colorspace = colorspace
    frame.color_range = 1 if colorspace != 2 else 0
    return frame


def test_frame_colour_tags_and_untagged_defaults() -> None:
    tagged = frame_colour(yuv_frame(48, 64, 1))[0]
    assert (tagged.matrix, tagged.assumed) == ("bt709", False)
    assert frame_colour(yuv_frame(48, 64, 6))[0].matrix == "bt601"
    sd, hd = frame_colour(yuv_frame(480, 640, 2))[0], frame_colour(yuv_frame(720, 1280, 2))[0]
    assert (sd.matrix, hd.matrix, sd.assumed, hd.assumed) == ("bt601", "bt709", True, True)
    assert not sd.full_range  # untagged yuv420p: limited range


def test_bt709_tagged_video_reads_back_its_rgb(tmp_path: Path) -> None:
    rgb = solid((200, 50, 30), 48, 64)
    rgb[:, 32:] = (30, 90, 220)
    path = tmp_path / "bt709.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv444p"
        stream.codec_context.colorspace = 1
        stream.codec_context.color_range = 1
        for i in range(2):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv444p", dst_colorspace="itu709", dst_color_range="MPEG"
            )
            frame.colorspace, frame.color_range, frame.pts = 1, 1, i
            frame.time_base = Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    reader = VideoReader(path)
    frames = list(reader)
    assert reader.colour is not None and reader.colour.matrix == "bt709"
    assert [f.time for f in frames] == [Fraction(0), Fraction(1, 25)]
    assert np.abs(frames[1].rgb.astype(int) - rgb).max() <= 2


# --- filmcolor eval on videos -------------------------------------------------------------------


def clip(path: Path, **kw: object) -> Path:
    options = {"width": 64, "height": 48, "frames": 12, "rate": 25, "content": "shapes"}
    options |= {"codec": "ffv1", "pix_fmt": "yuv444p"}
    make_video(path, **(options | kw))  # type: ignore[arg-type]
    return path


def run_eval(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["eval", *(str(a) for a in args)])
    return result.exit_code, result.stdout, result.stderr


def one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("filmcolor: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Matroska: time base 1/1000.
    return clip(tmp_path_factory.mktemp("ref") / "clip.mkv")


def test_eval_videos_pair_by_time_across_time_bases_json(reference: Path, tmp_path: Path) -> None:
    # MP4 at time base 1/12800, lossless: the same pictures at the same times.
    cand = clip(
        tmp_path / "clip.mp4",
        codec="libx264",
        time_base=Fraction(1, 12800),
        codec_options={"qp": "0"},
    )
    with av.open(str(cand)) as c, av.open(str(reference)) as r:
        assert c.streams.video[0].time_base != r.streams.video[0].time_base
    code, out, err = run_eval(reference, cand, "--json", "-q")
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "video" and data["count"] == 1 and data["frames"] == 12
    assert set(metrics.VIDEO_METRIC_KEYS) <= data.keys()
    video = data["per_video"][0]
    assert {"count", "unmatched_reference", "unmatched_candidate", "per_frame"} <= video.keys()
    assert video["count"] == 12 and video["unmatched_reference"] == 0
    assert video["psnr"] is None  # identical pictures: inf → null
    # The same pictures: the candidate's temporal figures are the reference's.
    for key in metrics.TEMPORAL_KEYS:
        assert video[key] == pytest.approx(video[f"reference_{key}"])
    per_frame = video["per_frame"]
    assert len(per_frame["psnr"]) == len(per_frame["warp_error_chroma_candidate"]) == 12
    assert per_frame["warp_error_chroma_candidate"][0] is None  # no previous frame
    assert per_frame["time"][:2] == [0.0, 0.04]
    assert err == ""


def test_eval_videos_unmatched_frames_warn_and_plot(reference: Path, tmp_path: Path) -> None:
    cand = clip(tmp_path / "short.mkv", frames=10, content="testsrc2")
    png = tmp_path / "curves.png"
    code, out, err = run_eval(reference, cand, "--plot", png)
    assert code == 0, err
    assert "warning" in err and "2 frame(s)" in err and "0.400 s" in err
    assert "clip" in out and "ref" in out and "CDC" in out
    img = cv2.imread(str(png))
    assert img is not None and img.shape == (900, 900, 3)
    assert (img < 255).any()
    code, out, _ = run_eval(reference, cand, "--json")
    video = json.loads(out)["per_video"][0]
    counts = (video["count"], video["unmatched_reference"], video["unmatched_candidate"])
    assert counts == (10, 2, 0)
    assert video["delta_colorfulness"] > 0 and video["psnr"] < 30


def test_eval_videos_size_mismatch_exit_3(reference: Path, tmp_path: Path) -> None:
    cand = clip(tmp_path / "small.mkv", height=32)
    code, out, err = run_eval(reference, cand)
    assert code == 3 and out == ""
    line = one_line_error(err)
    assert "small.mkv" in line and "64x32" in line and "64x48" in line and "scale" in line


def test_eval_videos_no_common_time_exit_3(reference: Path, tmp_path: Path) -> None:
    # Same rate, shifted by half a frame (20 ms): no time in common.
    cand = clip(tmp_path / "late.mkv", time_base=Fraction(1, 1000), start_pts=20)
    code, _, err = run_eval(reference, cand)
    assert code == 3
    assert "no frame has the presentation time" in one_line_error(err)


def test_eval_plot_refused_for_images_and_image_vs_video_exit_2(
    reference: Path, tmp_path: Path
) -> None:
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), np.full((16, 16, 3), 128, np.uint8))
    code, _, err = run_eval(img, img, "--plot", tmp_path / "p.png")
    assert code == 2 and "--plot" in one_line_error(err)
    assert not (tmp_path / "p.png").exists()
    code, _, err = run_eval(img, reference)
    assert code == 2 and "two images or two videos" in one_line_error(err)


def test_eval_video_folders_pair_by_stem(reference: Path, tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "ref" / "a.mkv").write_bytes(reference.read_bytes())
    (tmp_path / "ref" / "b.mkv").write_bytes(reference.read_bytes())
    (tmp_path / "out" / "a.mkv").write_bytes(reference.read_bytes())
    code, out, err = run_eval(tmp_path / "ref", tmp_path / "out", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["kind"] == "video" and [v["name"] for v in data["per_video"]] == ["a"]
    assert data["unpaired"] == [str(tmp_path / "ref" / "b.mkv")]


def test_evaluate_videos_progress_and_threads(reference: Path, tmp_path: Path) -> None:
    cand = clip(tmp_path / "other.mkv", content="testsrc2")
    calls: list[metrics.EvalProgress] = []
    one = metrics.evaluate_videos(reference, cand, workers=1, progress=calls.append)
    three = metrics.evaluate_videos(reference, cand, workers=3)
    assert metrics.jsonable(one) == metrics.jsonable(three)
    # The threaded runner gives what the one-thread meter gives, frame by frame.
    meter = metrics.TemporalMeter()
    steps = [
        meter.update(r.rgb, c.rgb)
        for r, c in zip(VideoReader(reference), VideoReader(cand), strict=True)
    ]
    assert one["per_frame"]["warp_error_rgb_candidate"][1:] == [
        s["warp_error_rgb_candidate"] for s in steps[1:]
    ]
    assert {k: one[k] for k in metrics.TEMPORAL_KEYS} == {
        k: meter.result()[k] for k in metrics.TEMPORAL_KEYS
    }
    # Progress: once per paired frame, in order, then once more, finished.
    assert [p.frames_done for p in calls] == [*range(1, 13), 12]
    assert all(p.path == str(cand) and p.frames_total == 12 and p.fps > 0 for p in calls)
    assert [p.finished for p in calls] == [False] * 12 + [True]
    # The command shows it (a plain line on a pipe; a bar on a terminal); -q hides it.
    code, _, err = run_eval(reference, cand)
    assert code == 0 and "other.mkv: 12/12 frames" in err
    code, _, err = run_eval(reference, cand, "-q")
    assert code == 0 and err == ""


def table_lines(width: int, *args: str | Path) -> list[str]:
    result = CliRunner().invoke(
        main, ["eval", *(str(a) for a in args), "-q"], env={"COLUMNS": str(width)}
    )
    assert result.exit_code == 0, result.stderr
    assert "…" not in result.stdout
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= width
    return lines


def test_eval_video_table_fits_without_cutting_figures(reference: Path, tmp_path: Path) -> None:
    cand = clip(tmp_path / "clip.mkv", content="testsrc2")
    data = json.loads(run_eval(reference, cand, "--json", "-q")[1])["per_video"][0]
    # One video with a short name: 80 columns; CDC and warp error in thousandths.
    lines = table_lines(80, reference, cand)
    row = next(line for line in lines if "clip" in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:3] == ["clip", f"{data['psnr']:.2f}", f"{data['ssim']:.4f}"]
    for cell, key in zip(cells[-4:], metrics.TEMPORAL_KEYS, strict=True):
        digits = cell.replace(".", "").lstrip("0")  # three significant digits
        assert len(digits) == 3 and float(cell) == pytest.approx(1000 * data[key], rel=5e-3)
    assert any("thousandths" in line for line in lines)
    # Two videos with longer names and the mean row: 100 columns.
    (tmp_path / "ref").mkdir()
    (tmp_path / "out").mkdir()
    for name in ("harbour-at-night-1951", "market-street-reel-2"):
        (tmp_path / "ref" / f"{name}.mkv").write_bytes(reference.read_bytes())
        (tmp_path / "out" / f"{name}.mkv").write_bytes(cand.read_bytes())
    lines = table_lines(100, tmp_path / "ref", tmp_path / "out")
    text = "\n".join(lines)
    assert "harbour-at-night-1951" in text and "mean of 2" in text


def test_eval_help_lists_only_its_exit_codes() -> None:
    out = CliRunner().invoke(main, ["eval", "--help"]).output
    codes = [line.split()[0] for line in out.split("Exit codes:")[1].splitlines() if line.strip()]
    assert codes == ["0", "1", "2", "3", "4", "130"]
    assert "weights" not in out and "--max-pixels" not in out and "OUTPUT" not in out
    assert "--plot PNG" in out
