"""``filmcolor preview``: a real PNG of rows × three labelled columns, TIME parsing, seeking."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TEST_RENDER
from mediagen import make_image, make_video

from filmcolor.cli import main
from filmcolor.errors import UsageError
from filmcolor.media.decode import DecodeStats, iter_media
from filmcolor.media.probe import open_input, probe
from filmcolor.preview import (
    COLUMNS,
    GAP,
    HEADER_HEIGHT,
    LABEL_HEIGHT,
    default_output_path,
    parse_time,
    read_video_frames,
    tile_box,
)

TILE = 160  # --tile-width of these tests: small sheets, fast


def run(*args: str | Path, weights: Path | None = None) -> tuple[int, str]:
    argv = [str(a) for a in args]
    if weights is not None:
        argv += ["--weights", str(weights), "--device", "cpu", "--render-size", str(TEST_RENDER)]
        argv += ["--tile-width", str(TILE)]
    result = CliRunner().invoke(main, argv)
    return result.exit_code, result.stderr


def read_png(path: Path) -> np.ndarray:
    """The sheet as RGB, checking that the file really is a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def grid(sheet: np.ndarray, height: int, width: int) -> tuple[int, int, tuple[int, int]]:
    """(rows, columns, tile) read back from the sheet's size for a height × width source."""
    th = round(TILE * height / width)
    H, W = sheet.shape[:2]
    cols, rem_w = divmod(W + GAP, TILE + GAP)
    rows, rem_h = divmod(H - HEADER_HEIGHT, LABEL_HEIGHT + th)
    assert rem_w == 0 and rem_h == 0, (H, W)
    return rows, cols, (th, TILE)


def chroma_spread(tile: np.ndarray) -> int:
    """Largest difference between the R, G and B of a pixel (0 for gray)."""
    t = tile.astype(np.int16)
    return int(np.abs(t - t[..., :1]).max())


def luma(tile: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY).astype(np.float32)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("preview") / "clip.mp4"
    # Keyframes every 12 frames, B-frames: seeking must land before TIME and decode on.
    make_video(path, width=128, height=96, frames=48, codec_options={"g": "12", "bf": "2"})
    return path


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1.5", 1.5),
        ("00:00:01.500", 1.5),
        ("0:01.5", 1.5),
        ("12", 12.0),
        (".25", 0.25),
        ("1:02:03.5", 3723.5),
        ("02:00", 120.0),
    ],
)
def test_parse_time(text: str, seconds: float) -> None:
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-1", "1.5s", "1:60", "1:60:00", "1::2", "1e3"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"MM:SS"):
        parse_time(text)


@pytest.fixture(scope="module")
def offset_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Matroska starting at 4.171 s (its declared duration counts that offset in)."""
    path = tmp_path_factory.mktemp("preview") / "offset.mkv"
    make_video(path, width=64, height=48, frames=40, start_pts=100, codec_options={"g": "10"})
    return path


@pytest.mark.parametrize("name", ["clip", "offset_clip"])
def test_frames_are_those_at_or_just_after_each_time(
    name: str, request: pytest.FixtureRequest
) -> None:
    clip = request.getfixturevalue(name)
    info = probe(clip)
    stats = DecodeStats()
    with open_input(clip) as container:
        decoded = [f for f in iter_media(container, info, stats)]
        start = container.streams[info.video_index].start_time or 0
    last = float((decoded[-1].pts - start) * info.time_base)
    times = [0.0, 0.7, 1.0, 1.46, 0.2, last, last + 0.02]  # the last: within the last frame
    frames = read_video_frames(clip, times)
    assert len(frames) == len(times)
    for t, got in zip(times, frames, strict=True):
        after = [f for f in decoded if (f.pts - start) * info.time_base >= t - 1e-6]
        want = after[0] if after else decoded[-1]
        assert np.array_equal(got.luma, want.luma), t
        assert got.time == pytest.approx(float((want.pts - start) * info.time_base))
        assert got.time >= t - 1e-6 or want is decoded[-1]
    # TIME counts from the first frame; the default times fall inside the video.
    default = read_video_frames(clip)
    assert len(default) == 3
    assert 0 < default[0].time < default[1].time < default[2].time <= last
    with pytest.raises(UsageError, match="beyond the end"):
        read_video_frames(clip, [last + 0.5])


@pytest.mark.slow
def test_video_sheet_default_three_rows(
    tmp_path: Path, clip: Path, const_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "film.mp4"
    local.write_bytes(clip.read_bytes())
    code, err = run("preview", local, weights=const_weights)
    assert code == 0, err
    out = default_output_path(local)
    assert out == tmp_path / "film-preview.png" and out.exists()
    sheet = read_png(out)
    rows, cols, tile = grid(sheet, 96, 128)
    assert (rows, cols) == (3, len(COLUMNS))
    for r in range(rows):
        source, plain, post = (sheet[tile_box(r, c, tile)] for c in range(cols))
        assert chroma_spread(source) == 0  # the source column is gray
        assert chroma_spread(plain) > 20  # the model's colour
        assert np.array_equal(plain, post)  # no post-processing asked for
        assert np.abs(luma(plain) - luma(source)).mean() < 12
    # Never clobbered without --overwrite.
    code, err = run("preview", local, weights=const_weights)
    assert code == 2
    assert "--overwrite" in err
    code, err = run("preview", local, "--overwrite", weights=const_weights)
    assert code == 0, err


def test_at_twice_saturation_zero_gives_gray_third_column(
    tmp_path: Path, clip: Path, const_weights: Path
) -> None:
    out = tmp_path / "sheet.png"
    args = ["preview", clip, "--at", "0.5", "--at", "00:00:01.250", "-o", out, "--saturation", "0"]
    code, err = run(*args, weights=const_weights)
    assert code == 0, err
    sheet = read_png(out)
    rows, cols, tile = grid(sheet, 96, 128)
    assert (rows, cols) == (2, 3)
    for r in range(rows):
        source, plain, post = (sheet[tile_box(r, c, tile)] for c in range(cols))
        assert chroma_spread(plain) > 20
        assert chroma_spread(post) <= 3  # saturation 0: gray again
        # the same luma (resized in another space: edges may differ by a few levels)
        assert np.abs(luma(post) - luma(source)).mean() < 1


def test_image_one_row_look_and_tone_change_the_third_column(
    tmp_path: Path, const_weights: Path
) -> None:
    src = tmp_path / "photo.png"
    make_image(src, width=96, height=64)
    out = tmp_path / "sheet.png"
    code, err = run("preview", src, "-o", out, "--look", "period", weights=const_weights)
    assert code == 0, err
    sheet = read_png(out)
    rows, cols, tile = grid(sheet, 64, 96)
    assert (rows, cols) == (1, 3)
    source, plain, post = (sheet[tile_box(0, c, tile)] for c in range(cols))
    assert chroma_spread(source) == 0
    assert np.abs(plain.astype(int) - post.astype(int)).mean() > 2  # the look's colour
    assert np.abs(luma(post) - luma(plain)).max() <= 3  # a look never touches the luma

    code, err = run(
        "preview", src, "-o", out, "--overwrite", "--contrast", "1.6", weights=const_weights
    )
    assert code == 0, err
    sheet = read_png(out)
    source, plain, post = (sheet[tile_box(0, c, tile)] for c in range(cols))
    assert chroma_spread(source) == 0  # the source stays the original
    assert np.abs(luma(post) - luma(plain)).mean() > 5  # tone: the luma changed

    code, err = run("preview", src, "--at", "1", weights=const_weights)
    assert code == 2
    assert "--at" in err


def test_at_beyond_the_end_is_a_usage_error(
    tmp_path: Path, clip: Path, const_weights: Path
) -> None:
    out = tmp_path / "sheet.png"
    code, err = run("preview", clip, "--at", "0:05", "-o", out, weights=const_weights)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("filmcolor: error: ")
    assert "beyond the end" in lines[0] and "2.002 s" in lines[0]
    assert not out.exists()
    code, err = run("preview", clip, "--at", "1:99", "-o", out, weights=const_weights)
    assert code == 2
    assert "--at" in err
    code, err = run("preview", clip, "-o", tmp_path / "sheet.jpg", weights=const_weights)
    assert code == 2
    assert ".png" in err


def test_preview_takes_the_restore_settings_file(
    tmp_path: Path, clip: Path, const_weights: Path
) -> None:
    settings = tmp_path / "settings.toml"
    settings.write_text('codec = "ffv1"\nkeyframe-interval = 4\n[post]\nsaturation = 0\n')
    out = tmp_path / "sheet.png"
    code, err = run(
        "preview", clip, "--at", "1", "-o", out, "--config", settings, weights=const_weights
    )
    assert code == 0, err
    sheet = read_png(out)
    rows, _, tile = grid(sheet, 96, 128)
    assert rows == 1
    assert chroma_spread(sheet[tile_box(0, 2, tile)]) <= 3
