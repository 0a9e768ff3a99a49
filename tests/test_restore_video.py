"""Frame-exactness and stream preservation of `restore` on generated videos."""

from __future__ import annotations

import dataclasses
import threading
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import CONST_AB
from mediagen import make_video, probe_streams

from filmcolor import pipeline
from filmcolor.config import EncodeConfig, RestoreConfig
from filmcolor.errors import UsageError
from filmcolor.facade import restore
from filmcolor.media.encode import choose_output_format, configure_video_stream
from filmcolor.media.probe import probe
from filmcolor.report import Progress, RestoreReport


def decoded(path: Path) -> list[tuple[list[np.ndarray], str, tuple[int, int, int, int]]]:
    """Each decoded frame: its planes (cropped to the picture), pix_fmt and colour tags."""
    frames = []
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            dt = np.dtype(np.uint8 if f.format.components[0].bits <= 8 else "<u2")
            arrays = []
            for p in f.planes[:3]:
                a = np.frombuffer(p, dt)[: p.line_size // dt.itemsize * p.height]
                arrays.append(a.reshape(p.height, -1)[:, : p.width].copy())
            tags = (f.color_range, f.colorspace, f.color_primaries, f.color_trc)
            frames.append((arrays, f.format.name, tags))
    return frames


def planes(path: Path) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray], str]:
    """Every decoded frame's Y, Cb, Cr planes and the (last) pix_fmt."""
    frames = decoded(path)
    ys, cbs, crs = ([f[0][i] if len(f[0]) > i else None for f in frames] for i in range(3))
    return ys, cbs, crs, frames[-1][1] if frames else ""


def run(src: Path, dst: Path, config: RestoreConfig, **encode: object) -> RestoreReport:
    if encode:
        config = dataclasses.replace(config, encode=EncodeConfig(**encode))  # type: ignore[arg-type]
    report = restore(src, dst, config)
    assert isinstance(report, RestoreReport)
    return report


def assert_same_streams(src: Path, dst: Path) -> tuple[dict, dict]:
    a, b = probe_streams(src), probe_streams(dst)
    va, vb = a["video"][0], b["video"][0]
    assert len(vb["pts"]) == len(va["pts"])
    assert vb["pts"] == va["pts"]
    assert (vb["width"], vb["height"]) == (va["width"], va["height"])
    assert len(b["streams"]) == len(a["streams"])
    for kind in ("audio", "subtitle"):
        assert len(b[kind]) == len(a[kind])
        for sa, sb in zip(a[kind], b[kind], strict=True):
            assert sb["codec"] == sa["codec"]
            assert sb["language"] == sa["language"]
            assert sb["disposition"] == sa["disposition"]
            assert sb["packets"] == sa["packets"], f"{kind} payloads differ"
    return a, b


@pytest.mark.slow
def test_mkv_with_two_audio_tracks_subtitles_chapters(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_video(
        src,
        frames=30,
        audio=[{"codec": "aac"}, {"codec": "aac", "language": "fra", "freq": 660}],
        subtitles=True,
        chapters=True,
        metadata={"title": "Reel 1"},
    )
    report = run(src, dst, const_config)
    a, b = assert_same_streams(src, dst)
    assert b["metadata"].get("title") == "Reel 1"
    assert [c["metadata"] for c in b["chapters"]] == [c["metadata"] for c in a["chapters"]]
    assert [s["language"] for s in b["audio"]] == ["eng", "fra"]
    assert report.frames_in == report.frames_out == 30
    assert report.frames_undecodable == 0
    _, cb, _, _ = planes(dst)
    assert np.abs(cb[5].astype(int) - 128).mean() > 5, "output has no colour"


@pytest.mark.slow
def test_mp4_cfr_ntsc_rate_audio_and_mov_text(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    pts = make_video(
        src, frames=30, audio=[{"codec": "aac"}, {"codec": "aac"}], subtitles=True, chapters=True
    )
    run(src, dst, const_config)
    a, b = assert_same_streams(src, dst)
    assert b["video"][0]["pts"] == pts
    assert len(b["chapters"]) == len(a["chapters"]) == 2
    with av.open(str(dst)) as c:
        assert c.streams.video[0].average_rate == Fraction(24000, 1001)


@pytest.mark.slow
@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_vfr_keeps_every_pts(tmp_path: Path, const_config, ext: str) -> None:
    src, dst = tmp_path / f"in{ext}", tmp_path / f"out{ext}"
    pts = make_video(src, frames=25, vfr=True, audio=[{"codec": "aac"}])
    assert len(set(np.diff(pts))) > 1, "generator did not make VFR"
    run(src, dst, const_config)
    assert_same_streams(src, dst)


def test_nonzero_start_pts_in_mp4(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    pts = make_video(src, frames=12, start_pts=2002, time_base=Fraction(1, 24000))
    run(src, dst, const_config)
    assert probe_streams(dst)["video"][0]["pts"] == pts


def test_odd_size_kept_as_444_with_warning(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_video(src, width=321, height=241, frames=8, pix_fmt="yuv444p")
    report = run(src, dst, const_config)
    ys, cbs, _, pix_fmt = planes(dst)
    assert ys[0].shape == (241, 321) and cbs[0].shape == (241, 321)
    assert pix_fmt == "yuv444p"
    assert any("odd picture size" in w for w in report.warnings)
    assert_same_streams(src, dst)


def test_rotation_display_matrix_copied(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_video(src, frames=6, rotation=90)
    run(src, dst, const_config)
    a, b = probe_streams(src)["video"][0], probe_streams(dst)["video"][0]
    assert a["rotation"] == 90
    assert b["rotation"] == 90
    assert b["display_matrix"] == a["display_matrix"]
    assert (b["width"], b["height"]) == (a["width"], a["height"])  # stored orientation kept


def test_10bit_gray_lossless_ffv1_keeps_y_exactly(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_video(src, frames=8, codec="ffv1", pix_fmt="gray10le", gray=True)
    run(src, dst, const_config, codec="ffv1")
    ys_in = planes(src)[0]
    ys_out, cbs, _, pix_fmt = planes(dst)
    assert pix_fmt == "yuv420p10le"
    assert len(ys_out) == len(ys_in) == 8
    for a, b in zip(ys_in, ys_out, strict=True):
        np.testing.assert_array_equal(a, b)
    assert cbs[0].max() > 255, "chroma should be 10-bit code values"
    assert_same_streams(src, dst)


def test_x264_lossless_keeps_y_exactly(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mp4"
    make_video(src, frames=10, audio=[{"codec": "aac"}])
    run(src, dst, const_config, codec="libx264", crf=0)
    ys_in = planes(src)[0]
    ys_out = planes(dst)[0]
    for a, b in zip(ys_in, ys_out, strict=True):
        np.testing.assert_array_equal(a, b)


def _psnr(a: list[np.ndarray], b: list[np.ndarray], peak: float = 255.0) -> float:
    mse = np.mean(
        [np.mean((x.astype(float) - y.astype(float)) ** 2) for x, y in zip(a, b, strict=True)]
    )
    return float(10 * np.log10(peak**2 / mse))


@pytest.mark.slow
def test_default_lossy_y_psnr_matches_a_plain_transcode(tmp_path: Path, const_config) -> None:
    src, dst, plain = tmp_path / "in.mkv", tmp_path / "out.mkv", tmp_path / "plain.mkv"
    make_video(src, frames=24, codec="ffv1", pix_fmt="yuv420p", gray=True)
    run(src, dst, const_config)
    # The plain transcode: the source frames, as they are, through the same encoder set up
    # by the same code with the same (default) settings.
    info = probe(src)
    fmt, _ = choose_output_format(info, EncodeConfig())
    with av.open(str(src)) as inp, av.open(str(plain), "w") as out:
        vs = configure_video_stream(out, info, fmt, EncodeConfig(), None)
        for frame in inp.decode(video=0):
            frame.pict_type = av.video.frame.PictureType.NONE  # as ffmpeg does: no forced I
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    ys_in = planes(src)[0]
    ours, theirs = _psnr(ys_in, planes(dst)[0]), _psnr(ys_in, planes(plain)[0])
    assert abs(ours - theirs) <= 0.1, (ours, theirs)


def _expected_chroma(y: np.ndarray, ab: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Reference Cb/Cr (BT.709, limited) of Lab (L of the gray luma ``y``, ``ab``) via OpenCV."""
    unit = np.clip((y.astype(np.float32) - 16) / 219, 0, 1)
    gray = np.repeat(unit[..., None], 3, axis=2)
    L = cv2.cvtColor(gray, cv2.COLOR_RGB2Lab)[..., 0]
    lab = np.dstack([L, np.full_like(L, ab[0]), np.full_like(L, ab[1])]).astype(np.float32)
    r, g, b = np.moveaxis(np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0, 1), 2, 0)
    yy = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (b - yy) / 1.8556 * 224 + 128, (r - yy) / 1.5748 * 224 + 128


def test_constant_ab_gives_the_lab_to_ycbcr_chroma(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_video(src, frames=4, codec="ffv1", pix_fmt="yuv420p", gray=True)
    run(src, dst, const_config, codec="ffv1")
    ys, cbs, crs, pix_fmt = planes(dst)
    assert pix_fmt == "yuv420p"
    for y, cb, cr in zip(ys, cbs, crs, strict=True):
        exp_cb, exp_cr = _expected_chroma(y, CONST_AB)
        # 4:2:0: the reference is averaged over each 2×2 block; judge only flat areas.
        exp_cb = cv2.resize(exp_cb, cb.shape[::-1], interpolation=cv2.INTER_AREA)
        exp_cr = cv2.resize(exp_cr, cr.shape[::-1], interpolation=cv2.INTER_AREA)
        flat = cv2.dilate(cv2.Canny(y, 10, 30), np.ones((7, 7), np.uint8)) == 0
        flat = cv2.resize(flat.astype(np.uint8), cb.shape[::-1], interpolation=cv2.INTER_NEAREST)
        assert flat.mean() > 0.2
        assert np.abs(cb.astype(float) - exp_cb)[flat > 0].max() <= 2
        assert np.abs(cr.astype(float) - exp_cr)[flat > 0].max() <= 2


def test_audio_the_container_cannot_hold_is_reencoded_with_a_warning(
    tmp_path: Path, const_config
) -> None:
    src, dst = tmp_path / "in.mov", tmp_path / "out.mp4"
    make_video(src, frames=12, audio=[{"codec": "aac"}, {"codec": "pcm_mulaw", "rate": 8000}])
    report = run(src, dst, const_config)
    a, b = probe_streams(src), probe_streams(dst)
    assert [s["codec"] for s in b["audio"]] == ["aac", "aac"]
    assert b["audio"][0]["packets"] == a["audio"][0]["packets"]  # the AAC track is copied
    assert [s["language"] for s in b["audio"]] == ["eng", "fra"]
    assert any("re-encoded to AAC" in w and ".mov" in w for w in report.warnings)
    assert b["video"][0]["pts"] == a["video"][0]["pts"]


def test_subtitles_the_container_cannot_hold_are_refused(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mp4"
    make_video(src, frames=6, subtitles=True)
    with pytest.raises(UsageError, match=r"subtitle stream #1 \(srt\).*\.mkv"):
        run(src, dst, const_config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_interrupt_leaves_nothing_and_stops_threads(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_video(src, frames=40)
    before = threading.active_count()

    def interrupt(progress: Progress) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        restore(src, dst, const_config, interrupt)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]
    assert threading.active_count() == before


@pytest.mark.parametrize("thread", ["filmcolor-decode", "filmcolor-encode"])
def test_interrupt_while_a_thread_starts_stops_them_before_the_files_close(
    tmp_path: Path, const_config, monkeypatch: pytest.MonkeyPatch, thread: str
) -> None:
    """Ctrl-C or SIGTERM can land while ``Thread.start()`` waits for the new thread: the
    threads must still be stopped and joined before the containers close (else they read
    and write closed files: a crash or a hang) and nothing is left behind."""
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_video(src, frames=40)
    before = threading.active_count()

    class InterruptedStart(threading.Thread):
        def start(self) -> None:
            super().start()
            if self.name == thread:
                raise KeyboardInterrupt  # as the signal handler would, in start()'s wait

    monkeypatch.setattr(pipeline.threading, "Thread", InterruptedStart)
    with pytest.raises(KeyboardInterrupt):
        restore(src, dst, const_config)
    assert threading.active_count() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


def test_existing_output_is_refused_before_any_work(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_video(src, frames=4)
    dst.write_bytes(b"keep me")
    with pytest.raises(UsageError, match="--overwrite"):
        run(src, dst, const_config)
    assert dst.read_bytes() == b"keep me"
    report = run(src, dst, dataclasses.replace(const_config, overwrite=True))
    assert report.frames_out == 4


def _decoded_y_and_tags(path: Path) -> tuple[list[np.ndarray], list[tuple[int, int, int, int]]]:
    frames = decoded(path)
    return [f[0][0] for f in frames], [f[2] for f in frames]


@pytest.mark.parametrize(
    ("ext", "codec", "pix_fmt", "y_exact"),
    [
        (".mkv", "ffv1", "gray", True),
        (".mkv", "libx264", "yuvj420p", False),
        (".mp4", "libx264", "yuv420p10le", False),
        (".mov", "png", "pal8", False),
        (".mkv", "libx264rgb", "rgb24", False),
    ],
)
def test_source_pixel_formats(
    tmp_path: Path, const_config, ext: str, codec: str, pix_fmt: str, y_exact: bool
) -> None:
    src, dst = tmp_path / f"in{ext}", tmp_path / "out.mkv"
    make_video(src, frames=6, codec=codec, pix_fmt=pix_fmt, gray=pix_fmt in ("gray", "pal8"))
    info = probe(src)
    run(src, dst, const_config, codec="ffv1")
    a, b = probe_streams(src)["video"][0], probe_streams(dst)["video"][0]
    seconds = [float(p * a["time_base"]) for p in a["pts"]]
    assert [float(p * b["time_base"]) for p in b["pts"]] == pytest.approx(seconds, abs=5e-4)
    assert (b["width"], b["height"]) == (a["width"], a["height"])
    ys_out, tags = _decoded_y_and_tags(dst)
    assert b["bits"] == (10 if info.bit_depth > 8 else 8)
    full = 2 if info.full_range else 1
    assert all(t == (full, 1, 1, 1) for t in tags)  # range as the source, BT.709 tags
    ys_in = _decoded_y_and_tags(src)[0]
    if y_exact:
        for y_in, y_out in zip(ys_in, ys_out, strict=True):
            np.testing.assert_array_equal(y_in, y_out)
    elif info.pix_fmt.startswith(("yuv", "gray")):
        # Lossless ffv1 output: the source's Y plane, code value for code value.
        for y_in, y_out in zip(ys_in, ys_out, strict=True):
            np.testing.assert_array_equal(y_in, y_out)
    else:  # RGB and palette sources: the luma is made from RGB with BT.601 weights
        with av.open(str(src)) as c:
            rgbs = [f.to_ndarray(format="rgb24").astype(float) for f in c.decode(video=0)]
        for rgb, y_out in zip(rgbs, ys_out, strict=True):
            expected = rgb @ np.array([0.299, 0.587, 0.114])
            assert np.abs(expected - y_out).mean() < 1.0


@pytest.mark.parametrize(
    ("codec", "pix_fmt", "ext"),
    [
        ("libx264", "yuv420p", ".mkv"),
        ("libx265", "yuv420p", ".mp4"),
        ("prores", "yuv422p10le", ".mov"),
        ("ffv1", "yuv420p", ".mkv"),
    ],
)
def test_codecs_and_colour_tags_on_stream_and_frames(
    tmp_path: Path, const_config, codec: str, pix_fmt: str, ext: str
) -> None:
    src, dst = tmp_path / f"in{ext}", tmp_path / f"out{ext}"
    make_video(src, frames=6, audio=[{"codec": "aac"}])
    run(src, dst, const_config, codec=codec)
    assert_same_streams(src, dst)
    assert probe_streams(dst)["video"][0]["pix_fmt"] == pix_fmt
    with av.open(str(dst)) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc) == (1, 1, 1, 1)
    _, tags = _decoded_y_and_tags(dst)
    assert tags and all(t == (1, 1, 1, 1) for t in tags)


def test_codec_the_container_cannot_hold_is_a_usage_error(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mov", tmp_path / "out.mov"
    make_video(src, frames=3)
    with pytest.raises(UsageError, match=r"cannot hold ffv1.*\.mkv"):
        run(src, dst, const_config, codec="ffv1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mov"]


def test_mp4_source_into_matroska_keeps_timestamps(tmp_path: Path, const_config) -> None:
    # MP4 AAC starts before zero (encoder priming); Matroska must not shift the file for it.
    src, dst = tmp_path / "in.mp4", tmp_path / "out.mkv"
    make_video(src, frames=6, audio=[{"codec": "aac"}])
    run(src, dst, const_config)
    a, b = probe_streams(src), probe_streams(dst)
    ms = [round(float(p * a["video"][0]["time_base"]) * 1000) for p in a["video"][0]["pts"]]
    assert b["video"][0]["pts"] == ms
    assert b["audio"][0]["packets"] == a["audio"][0]["packets"]


def test_sample_aspect_ratio_is_kept(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_video(src, width=176, height=144, frames=4)
    # Re-encode it with a 12:11 (PAL DV-like) pixel aspect ratio.
    with av.open(str(src)) as inp, av.open(str(tmp_path / "sar.mkv"), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 176, 144, "yuv420p"
        vs.codec_context.sample_aspect_ratio = Fraction(12, 11)
        for frame in inp.decode(video=0):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    report = run(tmp_path / "sar.mkv", dst, const_config)
    assert probe(dst).sample_aspect_ratio == Fraction(12, 11)
    assert not any("aspect" in w for w in report.warnings)
    # FFV1 in Matroska cannot carry it here: said, not silently dropped
    report = run(tmp_path / "sar.mkv", tmp_path / "ffv1.mkv", const_config, codec="ffv1")
    assert probe(tmp_path / "ffv1.mkv").sample_aspect_ratio is None
    (warning,) = [w for w in report.warnings if "aspect" in w]
    assert "12:11" in warning and "prores" in warning


def test_timecode_track_is_kept_as_the_video_timecode(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mov", tmp_path / "out.mov"
    make_video(src, frames=5, video_metadata={"timecode": "01:00:00:00"})
    assert [s["type"] for s in probe_streams(src)["streams"]] == ["video", "data"]
    report = run(src, dst, const_config)
    out = probe_streams(dst)
    assert out["video"][0]["metadata"]["timecode"] == "01:00:00:00"
    assert any("timecode 01:00:00:00 is kept" in w for w in report.warnings)
    assert out["video"][0]["pts"] == probe_streams(src)["video"][0]["pts"]


@pytest.mark.parametrize(
    ("src_bits", "out_fmt", "full"),
    [(12, "yuv420p10le", False), (10, "yuv420p", False), (8, "yuv420p10le", True)],
)
def test_luma_depth_mapping(src_bits: int, out_fmt: str, full: bool) -> None:
    from filmcolor.media.encode import OutputFormat, map_luma

    out_bits = 10 if "10" in out_fmt else 8
    fmt = OutputFormat(out_fmt, out_bits, (1, 1), full, "bt709")
    black, white = (
        (0, (1 << src_bits) - 1) if full else (16 << (src_bits - 8), 235 << (src_bits - 8))
    )
    y = map_luma(
        np.array([[black, white]], dtype=np.uint16 if src_bits > 8 else np.uint8), src_bits, fmt
    )
    exp = (0, (1 << out_bits) - 1) if full else (16 << (out_bits - 8), 235 << (out_bits - 8))
    assert tuple(int(v) for v in y[0]) == exp


def test_deep_rgb_source_keeps_its_luma_scale(tmp_path: Path, const_config) -> None:
    src, dst = tmp_path / "in.mkv", tmp_path / "out.mkv"
    make_video(src, frames=3, codec="ffv1", pix_fmt="gbrp10le")
    info = probe(src)
    assert info.bit_depth == 10
    run(src, dst, const_config, codec="ffv1")
    with av.open(str(src)) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb48le").astype(float) / 64
    y_out = planes(dst)[0][0].astype(float)
    expected = rgb @ np.array([0.299, 0.587, 0.114])  # full-range 10-bit gray
    assert np.abs(expected - y_out).mean() < 4  # not the 16-bit scale (about 64x larger)
