"""The command line: exit codes, one-line errors, nothing left at OUTPUT, images, folders."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import TEST_RENDER, assert_one_line_error
from mediagen import (
    make_audio_only,
    make_corrupt_middle,
    make_image,
    make_truncated,
    make_video,
    probe_streams,
)

from filmcolor.cli import main
from filmcolor.color import luma_to_L, rgb_to_lab


def cli(*args: str | Path, weights: Path | None = None) -> tuple[int, str]:
    argv = [str(a) for a in args]
    if argv and argv[0] == "restore":
        argv += ["--device", "cpu", "--render-size", str(TEST_RENDER), "-q"]
        if weights is not None:
            argv += ["--weights", str(weights)]
    result = CliRunner().invoke(main, argv)
    return result.exit_code, result.stderr if result.stderr_bytes is not None else result.output


def only_output_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture()
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mkv"
    make_video(path, frames=48, audio=[{"codec": "aac"}])
    return path


def test_missing_input(tmp_path: Path, const_weights: Path) -> None:
    out = tmp_path / "o.mp4"
    code, err = cli("restore", tmp_path / "nope.mp4", "-o", out, weights=const_weights)
    assert code == 3
    assert_one_line_error(err, "nope.mp4", "no such file")
    assert only_output_files(tmp_path) == []


def test_empty_input(tmp_path: Path, const_weights: Path) -> None:
    (tmp_path / "empty.mp4").touch()
    out = tmp_path / "o.mp4"
    code, err = cli("restore", tmp_path / "empty.mp4", "-o", out, weights=const_weights)
    assert code == 3
    assert_one_line_error(err, "empty.mp4", "empty")
    assert only_output_files(tmp_path) == ["empty.mp4"]


def test_not_media(tmp_path: Path, const_weights: Path) -> None:
    src = tmp_path / "notes.mp4"
    src.write_text("these are not frames\n" * 100)
    code, err = cli("restore", src, "-o", tmp_path / "o.mp4", weights=const_weights)
    assert code == 3
    assert_one_line_error(err, "notes.mp4", "not a media file")
    assert only_output_files(tmp_path) == ["notes.mp4"]


def test_audio_only(tmp_path: Path, const_weights: Path) -> None:
    src = tmp_path / "song.m4a"
    make_audio_only(src)
    code, err = cli("restore", src, "-o", tmp_path / "o.mp4", weights=const_weights)
    assert code == 3
    assert_one_line_error(err, "song.m4a", "no video stream", "audio file")
    assert only_output_files(tmp_path) == ["song.m4a"]


@pytest.mark.slow
def test_existing_output_needs_overwrite(tmp_path: Path, clip: Path, const_weights: Path) -> None:
    out = tmp_path / "o.mkv"
    out.write_bytes(b"precious")
    code, err = cli("restore", clip, "-o", out, weights=const_weights)
    assert code == 2
    assert_one_line_error(err, "already exists", "--overwrite")
    assert out.read_bytes() == b"precious"
    code, _ = cli("restore", clip, "-o", out, "--overwrite", weights=const_weights)
    assert code == 0
    assert len(probe_streams(out)["video"][0]["pts"]) == 48


def test_missing_weights_exit_5_and_says_how_to_get_them(
    tmp_path: Path, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filmcolor.model.colorizer as colorizer

    monkeypatch.setattr(colorizer, "default_weights_path", lambda: tmp_path / "missing.safetensors")
    code, err = cli("restore", clip, "-o", tmp_path / "o.mkv")
    assert code == 5
    assert_one_line_error(err, "weights", "filmcolor train")
    assert not (tmp_path / "o.mkv").exists()
    missing = tmp_path / "nope.safetensors"
    code, err = cli("restore", clip, "-o", tmp_path / "o.mkv", weights=missing)
    assert code == 5
    assert_one_line_error(err, "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    code, err = cli("restore", clip, "-o", tmp_path / "o.mkv", weights=bad)
    assert code == 5
    assert_one_line_error(err, "bad.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.safetensors"]


@pytest.mark.slow
def test_truncated_file_keeps_every_decodable_frame(
    tmp_path: Path, clip: Path, const_weights: Path
) -> None:
    src, out, report = tmp_path / "cut.mkv", tmp_path / "o.mkv", tmp_path / "r.json"
    make_truncated(clip, src, keep_fraction=0.6)
    decodable = len(probe_streams(src)["video"][0]["pts"])
    assert 0 < decodable < 48
    code, _ = cli("restore", src, "-o", out, "--report", report, weights=const_weights)
    assert code == 0
    assert len(probe_streams(out)["video"][0]["pts"]) == decodable
    data = json.loads(report.read_text())
    assert data["frames_out"] == decodable
    assert any("ends early" in w for w in data["warnings"])
    code, err = cli("restore", src, "-o", tmp_path / "s.mkv", "--strict", weights=const_weights)
    assert code == 4
    assert_one_line_error(err, "truncated", "--strict")
    assert not (tmp_path / "s.mkv").exists()


@pytest.mark.slow
def test_corrupt_packets_warn_count_and_strict_fails(
    tmp_path: Path, clip: Path, const_weights: Path
) -> None:
    src, out, report = tmp_path / "bad.mkv", tmp_path / "o.mkv", tmp_path / "r.json"
    make_corrupt_middle(clip, src, count=3)
    code, err = cli("restore", src, "-o", out, "--report", report, weights=const_weights)
    assert code == 0
    data = json.loads(report.read_text())
    assert data["frames_undecodable"] >= 3
    assert data["frames_out"] + data["frames_undecodable"] == data["frames_in"]
    assert data["frames_out"] == len(probe_streams(out)["video"][0]["pts"])
    assert any("undecodable" in w for w in data["warnings"])
    assert {"input", "output", "frames_in", "seconds", "fps", "settings"} <= set(data)
    # Warnings reach the user even with a report (not with -q, which the helper passes):
    strict_out = tmp_path / "strict.mkv"
    code, err = cli("restore", src, "-o", strict_out, "--strict", weights=const_weights)
    assert code == 4
    assert_one_line_error(err, "undecodable", "--strict")
    assert not strict_out.exists()
    assert not [p for p in tmp_path.iterdir() if ".part" in p.name]


@pytest.mark.parametrize("ext", [".jpg", ".png", ".tif", ".webp"])
def test_gray_image_becomes_colour_same_size(tmp_path: Path, const_weights: Path, ext: str) -> None:
    src, out = tmp_path / f"photo{ext}", tmp_path / f"out{ext}"
    make_image(src, width=67, height=45)
    code, err = cli("restore", src, "-o", out, weights=const_weights)
    assert code == 0, err
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.shape == (45, 67, 3)
    assert np.abs(img[..., 2].astype(int) - img[..., 0].astype(int)).mean() > 5


def test_16bit_png_keeps_16_bits_and_luma(tmp_path: Path, const_weights: Path) -> None:
    src, out = tmp_path / "scan.png", tmp_path / "out.png"
    make_image(src, width=40, height=30, bits=16)
    code, err = cli("restore", src, "-o", out, weights=const_weights)
    assert code == 0, err
    img = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint16 and img.shape == (30, 40, 3)
    assert (img % 257 != 0).any(), "16-bit output holds only 8-bit values"
    # The picture's lightness is the source's (except where the colour leaves the gamut).
    src_L = luma_to_L(torch.from_numpy(cv2.imread(str(src), -1).astype(np.int64)), 16, True)
    rgb = torch.from_numpy(img[..., ::-1].astype(np.float32) / 65535).permute(2, 0, 1)
    out_L = rgb_to_lab(rgb)[0]
    assert float((out_L - src_L).abs().median()) < 0.5


@pytest.mark.slow
def test_exif_orientation_applied(tmp_path: Path, const_weights: Path) -> None:
    src, out = tmp_path / "rot.jpg", tmp_path / "out.png"
    make_image(src, width=40, height=64, exif_orientation=6)
    code, err = cli("restore", src, "-o", out, weights=const_weights)
    assert code == 0, err
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape[:2] == (40, 64)


def test_restore_says_where_it_wrote_unless_quiet(tmp_path: Path, const_weights: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    make_image(src / "a.png", width=32, height=24)
    base = ["--device", "cpu", "--render-size", str(TEST_RENDER), "--weights", str(const_weights)]
    out = tmp_path / "out"
    for args, said in [
        ([src / "a.png", "-o", tmp_path / "a.png"], f"filmcolor: wrote {tmp_path / 'a.png'}"),
        ([src, "-o", out], f"1 file(s) restored, 0 failed; wrote them to {out}"),
    ]:
        result = CliRunner().invoke(main, ["restore", *map(str, args), *base])
        assert result.exit_code == 0, result.stderr
        assert result.stderr.splitlines() == [said]
    result = CliRunner().invoke(main, ["restore", str(src), "-o", str(tmp_path / "q"), "-q", *base])
    assert result.exit_code == 0 and result.stderr == ""


@pytest.mark.slow
def test_folder_skips_bad_files_and_does_the_rest(tmp_path: Path, const_weights: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_image(src / "a.png", width=32, height=24)
    make_video(src / "b.avi", frames=6, codec="mpeg4")
    (src / "c.jpg").write_bytes(b"not a jpeg")
    make_image(src / "d.jpg", width=32, height=24)
    code, err = cli("restore", src, "-o", out, weights=const_weights)
    assert code == 3
    assert only_output_files(out) == ["a.png", "b.mkv", "d.jpg"]
    assert "c.jpg" in err
    assert len(probe_streams(out / "b.mkv")["video"][0]["pts"]) == 6


def test_info_json(clip: Path) -> None:
    code, _ = cli("info", clip, "--json")
    assert code == 0
    result = CliRunner().invoke(main, ["info", str(clip), "--json"])
    data = json.loads(result.stdout)
    assert data["width"] == 320 and data["height"] == 240
    assert data["time_base"] == "1/1000"
    assert data["audio_streams"] == 1
    assert data["bit_depth"] == 8


def test_help_lists_exit_codes() -> None:
    result = CliRunner().invoke(main, ["restore", "--help"])
    assert result.exit_code == 0
    for code in ("130", "weights", "input: missing"):
        assert code in result.stdout


@pytest.mark.slow
def test_ctrl_c_exits_130_and_leaves_nothing(
    tmp_path: Path, clip: Path, const_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    facade = importlib.import_module("filmcolor.facade")
    real = facade.restore_video

    def interrupted(*args, **kwargs):
        def stop(progress):
            raise KeyboardInterrupt

        return real(args[0], args[1], args[2], stop, colorizer=kwargs.get("colorizer"))

    monkeypatch.setattr(facade, "restore_video", interrupted)
    code, err = cli("restore", clip, "-o", tmp_path / "o.mkv", weights=const_weights)
    assert code == 130
    assert_one_line_error(err, "interrupted")
    assert only_output_files(tmp_path) == []


@pytest.mark.slow
def test_progress_is_plain_lines_when_not_a_terminal(
    tmp_path: Path, clip: Path, const_weights: Path
) -> None:
    argv = ["restore", str(clip), "-o", str(tmp_path / "o.mkv"), "--device", "cpu"]
    argv += ["--render-size", str(TEST_RENDER), "--weights", str(const_weights)]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.stderr
    assert "48/48 frames" in result.stderr
    assert result.stdout == ""


def test_import_has_no_heavy_side_effects() -> None:
    import subprocess
    import sys

    code = "import sys, filmcolor; print('torch' in sys.modules, 'av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.slow
def test_relative_name_with_a_colon_and_output_containers(
    tmp_path: Path, clip: Path, const_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copy(clip, tmp_path / "take:1.mkv")
    code, err = cli("restore", "take:1.mkv", "-o", "out:1.mkv", weights=const_weights)
    assert code == 0, err
    assert len(probe_streams(tmp_path / "out:1.mkv")["video"][0]["pts"]) == 48
    code, err = cli("restore", "take:1.mkv", "-o", "out.avi", weights=const_weights)
    assert code == 2
    assert_one_line_error(err, "out.avi", ".mkv")


@pytest.mark.slow
def test_folder_name_collisions_and_sidecars(tmp_path: Path, const_weights: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    make_video(src / "a.avi", frames=3, codec="mpeg4")
    make_video(src / "a.mkv", frames=4)
    (src / "a.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    code, err = cli("restore", src, "-o", out, weights=const_weights)
    assert code == 0, err
    assert only_output_files(out) == ["a-2.mkv", "a.mkv"]
    counts = sorted(len(probe_streams(out / n)["video"][0]["pts"]) for n in ("a.mkv", "a-2.mkv"))
    assert counts == [3, 4]
