"""Reference and hint files, timecodes, and ``filmcolor keyframes``: known answers."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import TEST_RENDER, assert_one_line_error
from mediagen import SHOT_FRAMES, make_video

from filmcolor.cli import main
from filmcolor.color import lab_to_rgb, rgb_to_lab
from filmcolor.config import GuideConfig, RestoreConfig
from filmcolor.errors import InputError, UsageError
from filmcolor.facade import restore
from filmcolor.guide.hints import load_hints, parse_color, rasterize
from filmcolor.guide.keyframes import export_keyframes, full_range_gray, read_manifest
from filmcolor.guide.sources import format_timecode, load_references, parse_time, parse_timecode
from filmcolor.guide.types import Hint


def cli(*args: str | Path | int) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


def coloured(path: Path, seed: int = 0, size: tuple[int, int] = (24, 32)) -> Path:
    """Write a small colour picture (BGR noise) to ``path``."""
    rng = np.random.default_rng(seed)
    cv2.imwrite(str(path), rng.integers(0, 256, (*size, 3), dtype=np.uint8))
    return path


def gray(path: Path) -> Path:
    cv2.imwrite(str(path), np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1)))
    return path


# --------------------------------------------------------------------------- timecodes


def test_timecode_known_values() -> None:
    assert format_timecode(Fraction(83450, 1000)) == "00-01-23.450"
    assert format_timecode(Fraction(1001, 24000)) == "00-00-00.042"  # 41.708 ms
    assert format_timecode(Fraction(360_000)) == "100-00-00.000"
    assert format_timecode(Fraction(-1, 24)) == "-00-00-00.042"
    assert format_timecode(Fraction(83450, 1000), sep=":") == "00:01:23.450"
    t = Fraction(8345, 100)
    for text in ("00-01-23.450", "01-23.450", "00-01-23.450_shot12", "00:01:23.450", "1:23.45"):
        assert parse_timecode(text) == t, text
    assert parse_timecode("02-00-00") == 7200
    assert parse_timecode("-00-00-00.042") == Fraction(-42, 1000)
    for bad in ("shot12", "12.5", "00-61-00.000", "00-00-75.000", "00-01:23.450", "a00-01-02"):
        assert parse_timecode(bad) is None, bad
    assert parse_time(95.2) == Fraction(476, 5)
    assert parse_time("95.2") == Fraction(476, 5)
    assert parse_time(3) == 3
    assert parse_time("00:00:01.5") == Fraction(3, 2)
    assert parse_time(None) is None and parse_time("") is None
    for bad in ("soon", True, float("nan"), [1]):
        with pytest.raises(ValueError):
            parse_time(bad)


@pytest.mark.parametrize(
    ("rate", "time_base"),
    [
        (Fraction(24000, 1001), Fraction(1, 24000)),
        (Fraction(24000, 1001), Fraction(1, 90000)),  # MPEG-TS
        (Fraction(30000, 1001), Fraction(1, 30000)),
        (Fraction(30000, 1001), Fraction(1, 1000)),  # Matroska: pts rounded to ms
        (Fraction(60000, 1001), Fraction(1, 60000)),
        (Fraction(120), Fraction(1, 120)),
        (Fraction(120), Fraction(1, 1000)),
        (Fraction(120), Fraction(1, 15360)),  # MP4 timescale
    ],
)
def test_timecode_names_map_back_to_their_exact_frame(rate: Fraction, time_base: Fraction) -> None:
    """The ms rounding of a name never picks the neighbouring frame, up to 120 fps, near the
    start and ten hours in (where a float would lose the ms)."""
    start = round(10 * 3600 * rate)
    for first in (0, start):
        ks = range(first, first + 1500)
        pts = [round(k / rate / time_base) for k in (first - 1, *ks, ks[-1] + 1)]
        for i in range(1, len(pts) - 1):
            t = pts[i] * time_base
            back = parse_timecode(format_timecode(t) + "_x")
            assert back is not None and abs(back - t) <= Fraction(1, 2000)
            errors = [abs(p * time_base - back) for p in pts[i - 1 : i + 2]]
            assert min(range(3), key=errors.__getitem__) == 1, (i, t, back)


# --------------------------------------------------------------------------- references


def test_folder_of_timecode_names(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    coloured(keys / "00-00-02.500.png", 1)
    coloured(keys / "00-00-00.042_first shot.jpg", 2)
    coloured(keys / "01-00.000.webp", 3)
    gray(keys / "00-00-05.000.png")  # a keyframe not coloured yet: passed over
    (keys / "keyframes.json").write_text("{}")
    (keys / "notes.txt").write_text("not a picture")
    refs = load_references(GuideConfig(references_dir=str(keys)))
    assert [r.time for r in refs] == [Fraction(42, 1000), Fraction(5, 2), Fraction(60)]
    assert Path(refs[0].path).name == "00-00-00.042_first shot.jpg"
    for r in refs:
        assert r.rgb.dtype == np.uint8 and r.rgb.shape == (24, 32, 3)
    # OpenCV reads BGR: the reference is RGB
    bgr = cv2.imread(str(keys / "00-00-02.500.png"))
    np.testing.assert_array_equal(refs[1].rgb, bgr[..., ::-1])


def test_reference_options_json_and_csv_lists(tmp_path: Path) -> None:
    pics = tmp_path / "pics"
    pics.mkdir()
    for i, name in enumerate(["a.png", "b.png", "c.png", "style.jpg", "00-00-09.000_x.png"]):
        coloured(pics / name, i)
    listing = tmp_path / "refs.json"
    listing.write_text(
        json.dumps(
            {
                "references": [
                    {"time": "00:01:23.450", "image": "pics/a.png"},
                    {"time": 2.5, "image": "pics/b.png"},
                    {"time": None, "image": "pics/c.png"},
                ]
            }
        )
    )
    refs = load_references(
        GuideConfig(
            references=(str(pics / "style.jpg"), str(pics / "00-00-09.000_x.png")),
            references_dir=str(listing),
        )
    )
    names = [Path(r.path).name for r in refs]
    assert names == ["style.jpg", "00-00-09.000_x.png", "b.png", "a.png", "c.png"]
    assert [r.time for r in refs] == [None, 9, Fraction(5, 2), Fraction(8345, 100), None]
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps([{"time": "1:00.5", "image": str(pics / "a.png")}]))
    assert [r.time for r in load_references(GuideConfig(references_dir=str(bare)))] == [
        Fraction(121, 2)
    ]
    table = tmp_path / "refs.csv"
    table.write_text("time,image\n00:00:01.001,pics/a.png\n\n12,pics/b.png\n")
    refs = load_references(GuideConfig(references_dir=str(table)))
    assert [(Path(r.path).name, r.time) for r in refs] == [
        ("a.png", Fraction(1001, 1000)),
        ("b.png", 12),
    ]


def test_reference_exif_orientation_is_applied(tmp_path: Path) -> None:
    from mediagen import make_image

    path = tmp_path / "rot.jpg"
    make_image(path, width=64, height=48, gray=False, exif_orientation=6)
    (ref,) = load_references(GuideConfig(references=(str(path),)))
    assert ref.rgb.shape == (64, 48, 3)  # rotated upright: 48 wide


@pytest.mark.parametrize(
    ("setup", "error", "words"),
    [
        ("gray", UsageError, ["g.png", "is gray; colour it first"]),
        ("bad_name", UsageError, ["shot3.png", "not a timecode", "HH-MM-SS.mmm"]),
        ("missing_in_list", InputError, ["nope.png", "no such file"]),
        ("bad_time", UsageError, ["refs.json", "entry 1", "'soon' is not a time"]),
        ("same_time", UsageError, ["00-00-01.000_b.png", "one reference per frame"]),
        ("all_gray", UsageError, ["only gray pictures"]),
        ("bad_kind", UsageError, ["refs.txt", ".json or .csv"]),
    ],
)
def test_reference_errors(
    tmp_path: Path, setup: str, error: type[Exception], words: list[str]
) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    config = GuideConfig(references_dir=str(keys))
    if setup == "gray":
        config = GuideConfig(references=(str(gray(tmp_path / "g.png")),))
    elif setup == "bad_name":
        coloured(keys / "00-00-01.000.png")
        coloured(keys / "shot3.png")
    elif setup in ("missing_in_list", "bad_time"):
        time = "soon" if setup == "bad_time" else 1
        (tmp_path / "refs.json").write_text(json.dumps([{"time": time, "image": "nope.png"}]))
        config = GuideConfig(references_dir=str(tmp_path / "refs.json"))
    elif setup == "same_time":
        coloured(keys / "00-00-01.000_a.png")
        coloured(keys / "00-00-01.000_b.png")
    elif setup == "all_gray":
        gray(keys / "00-00-01.000.png")
    elif setup == "bad_kind":
        (tmp_path / "refs.txt").write_text("x")
        config = GuideConfig(references_dir=str(tmp_path / "refs.txt"))
    with pytest.raises(error) as info:
        load_references(config)
    assert "\n" not in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_cli_missing_guide_paths_fail_fast_in_one_line(tmp_path: Path) -> None:
    clip = tmp_path / "c.mp4"
    make_video(clip, frames=2, width=64, height=48)
    for option in ("--reference", "--references", "--hints"):
        code, err = cli("restore", clip, "-o", tmp_path / "o.mp4", option, tmp_path / "nope")
        assert code == 3, err
        assert_one_line_error(err, "nope", option, "no such file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4"]


@pytest.mark.slow
def test_cli_bad_guide_files_are_one_line_errors(tmp_path: Path, const_weights: Path) -> None:
    """Gray reference, a folder name that is no timecode, a bad hint: exit 2, one line, and
    nothing written."""
    clip = tmp_path / "c.mp4"
    make_video(clip, frames=4, width=64, height=48)
    keys = tmp_path / "keys"
    keys.mkdir()
    coloured(keys / "shot1.png")
    hints = tmp_path / "h.json"
    hints.write_text('{"hints": [{"time": [0, 1], "point": [2, 0.5], "color": "#fff"}]}')
    cases = [
        ("--reference", gray(tmp_path / "g.png"), ["g.png", "is gray; colour it first"]),
        ("--references", keys, ["shot1.png", "not a timecode", "HH-MM-SS.mmm"]),
        ("--hints", hints, ["h.json", "hint 1", "[0, 1]"]),
    ]
    run = ["--weights", const_weights, "--device", "cpu", "--render-size", TEST_RENDER, "-q"]
    for option, path, words in cases:
        code, err = cli("restore", clip, "-o", tmp_path / "o.mp4", option, path, *run)
        assert code == 2, err
        assert_one_line_error(err, *words)
        assert not (tmp_path / "o.mp4").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4", "g.png", "h.json", "keys"]


def test_guide_settings_from_options_and_config_file(tmp_path: Path) -> None:
    """Options and TOML keys land in RestoreConfig.guide; file paths are relative to the file."""
    from filmcolor.cli.options import effective_config
    from filmcolor.cli.restore import restore as restore_command

    pics = tmp_path / "pics"
    pics.mkdir()
    a, b = coloured(pics / "a.png"), coloured(pics / "b.png")
    (pics / "hints.json").write_text('{"hints": []}')
    toml = pics / "settings.toml"
    toml.write_text('reference = ["a.png", "b.png"]\nreferences = "."\nhints = "hints.json"\n')
    ctx = restore_command.make_context("restore", ["in.mp4", "-o", "o.mp4"])
    config, sources = effective_config(ctx, ctx.params, toml, False)
    assert config.guide.references == (str(a.absolute()), str(b.absolute()))
    assert config.guide.references_dir == str(pics.absolute())
    assert config.guide.hints == str((pics / "hints.json").absolute())
    assert sorted(sources["from_config"]) == ["hints", "reference", "references"]
    argv = ["in.mp4", "-o", "o.mp4", "--reference", str(b), "--reference", str(a)]
    ctx = restore_command.make_context("restore", argv)
    config, _ = effective_config(ctx, ctx.params, toml, False)
    assert config.guide.references == (str(b), str(a))  # the command line wins
    assert config.guide.references_dir == str(pics.absolute())
    toml.write_text("reference = 3\n")
    with pytest.raises(UsageError, match="a path or a list of paths"):
        effective_config(ctx, ctx.params, toml, False)


# --------------------------------------------------------------------------- hints


def test_hints_file_known_values(tmp_path: Path) -> None:
    path = tmp_path / "hints.json"
    path.write_text(
        json.dumps(
            {
                "hints": [
                    {"time": ["00:00:01.000", "00:00:02.500"], "box": [0.1, 0.2, 0.4, 0.9],
                     "color": "#b03020"},
                    {"time": 3, "point": [0.5, 0.25], "radius": 0.1, "color": [40, 90, 200]},
                    {"frames": [24, 47], "point": [0.7, 0.6], "colour": "#2a6"},
                ]
            }
        )
    )  # fmt: skip
    rate = Fraction(24000, 1001)
    box, point, by_frames = load_hints(path, rate=rate, start=Fraction(1, 10))
    ms = Fraction(1, 2000)  # times are widened by the rounding of a ms timecode
    assert box == Hint(
        "box", (0.1, 0.2, 0.4, 0.9), (0xB0, 0x30, 0x20), Fraction(1) - ms, Fraction(5, 2) + ms
    )
    assert point == Hint("point", (0.5, 0.25), (40, 90, 200), Fraction(3) - ms, None, 0.1)
    assert by_frames.rgb == (0x22, 0xAA, 0x66) and by_frames.radius == 0.03
    # half a frame before 24 and after 47
    assert by_frames.start == Fraction(1, 10) + Fraction(47, 2) / rate
    assert by_frames.end == Fraction(1, 10) + Fraction(95, 2) / rate
    pixels = tmp_path / "pixels.json"
    pixels.write_text(
        json.dumps(
            {
                "units": "pixels", "width": 200, "height": 100,
                "hints": [{"time": [0, 1], "box": [20, 10, 100, 100], "color": "#fff"},
                          {"time": [0, 1], "point": [50, 50], "radius": 5, "color": "#000"}],
            }
        )
    )  # fmt: skip
    pbox, ppoint = load_hints(pixels)
    assert pbox.coords == (0.1, 0.1, 0.5, 1.0)
    assert ppoint.coords == (0.25, 0.5) and ppoint.radius == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("hints", "words"),
    [
        ([{"time": [0, 1], "box": [0.1, 0.2, 0.4, 0.9], "color": "red"}], ["hint 1", "'red'"]),
        ([{"frames": [0, 9], "point": [0.1, 0.2], "color": "#fff"}], ["frame rate"]),
        ([{"time": [0, 1], "point": [1.5, 0.2], "color": "#fff"}], ["fractions in [0, 1]"]),
        ([{"time": [2, 1], "point": [0.5, 0.2], "color": "#fff"}], ["ends before it starts"]),
        ([{"time": [0, 1], "box": [0.5, 0.2, 0.1, 0.9], "color": "#fff"}], ["x0 < x1"]),
        ([{"time": [0, 1], "point": [0.5, 0.2], "color": "#fff", "size": 3}], ["'size'"]),
        ([{"time": [0, 1], "color": "#fff"}], ["'point' or 'box'"]),
        ([{}, {"time": "later", "point": [0.5, 0.2], "color": "#fff"}], ["hint 1"]),
    ],
)
def test_hint_errors_name_file_and_entry(tmp_path: Path, hints: list, words: list[str]) -> None:
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"hints": hints}))
    with pytest.raises(UsageError) as info:
        load_hints(path)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    for word in words:
        assert word in message, message


def test_hint_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        load_hints(tmp_path / "none.json")
    path = tmp_path / "h.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="invalid JSON"):
        load_hints(path)
    path.write_text(json.dumps({"units": "pixels", "hints": []}))
    with pytest.raises(UsageError, match='"width" and "height"'):
        load_hints(path)
    with pytest.raises(ValueError):
        parse_color([300, 0, 0])


def test_rasterized_box_has_the_colour_inside_and_nothing_outside() -> None:
    colour = (200, 40, 30)
    hint = Hint("box", (0.25, 0.25, 0.75, 0.5), colour)
    ab, conf = rasterize(hint, 40, 60)
    assert ab.shape == (2, 40, 60) and conf.shape == (40, 60)
    assert ab.dtype == np.float32 and conf.dtype == np.float32
    # box pixels span x 15..45, y 10..20 (pixel centres at +0.5)
    assert (conf[11:19, 16:44] == 1).all()
    outside = np.ones((40, 60), bool)
    outside[9:21, 14:46] = False
    assert (conf[outside] == 0).all()
    assert 0 < conf[10, 30] < 1 or conf[10, 30] == 1  # on the edge: the ramp or inside
    assert ((conf >= 0) & (conf <= 1)).all()
    # the colour's own Lab: L from the colour, ab from the hint → the colour again
    lab = rgb_to_lab(torch.tensor(colour, dtype=torch.float32).view(3, 1, 1) / 255)
    ref = cv2.cvtColor(np.array([[colour]], np.float32) / 255, cv2.COLOR_RGB2Lab)[0, 0]
    assert ab[:, 15, 30] == pytest.approx(ref[1:], abs=0.3)
    back = lab_to_rgb(torch.cat((lab[:1], torch.from_numpy(ab[:, :1, :1])), 0)) * 255
    assert back.flatten().tolist() == pytest.approx(colour, abs=0.6)


def test_rasterized_point_is_a_disc_of_radius_times_short_side() -> None:
    ab, conf = rasterize(Hint("point", (0.5, 0.5), (30, 60, 220), radius=0.1), 40, 80)
    yy, xx = np.mgrid[0:40, 0:80] + 0.5
    dist = np.hypot(xx - 40, yy - 20)  # radius 0.1 × 40 = 4 px
    assert (conf[dist < 3.2] == 1).all()
    assert (conf[dist > 4.8] == 0).all()
    assert conf.sum() == pytest.approx(np.pi * 16, rel=0.05)
    assert ab[1].mean() < -40  # blue: strongly −b


# --------------------------------------------------------------------------- keyframes


def test_full_range_gray_expands_limited_range() -> None:
    y8 = np.array([[16, 235, 126, 0, 255]], np.uint8)
    np.testing.assert_array_equal(full_range_gray(y8, 8, False), [[0, 255, 128, 0, 255]])
    np.testing.assert_array_equal(full_range_gray(y8, 8, True), y8)
    y10 = np.array([[64, 940, 1023]], np.uint16)
    out = full_range_gray(y10, 10, False)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, [[0, 65535, 65535]])
    np.testing.assert_array_equal(
        full_range_gray(np.array([[1023]], np.uint16), 10, True), [[65535]]
    )


@pytest.fixture(scope="module")
def shots_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    path = tmp_path_factory.mktemp("shots") / "shots.mp4"
    pts = make_video(path, frames=3 * SHOT_FRAMES, content="shots", width=160, height=96)
    return path, pts


@pytest.mark.slow
def test_keyframes_one_per_shot_and_names_round_trip(
    shots_clip: tuple[Path, list[int]], tmp_path: Path, const_config: RestoreConfig
) -> None:
    clip, pts = shots_clip
    keys = tmp_path / "keys"
    code, err = cli("keyframes", clip, "-o", keys)
    assert code == 0, err
    assert str(keys) in err and "3 keyframe(s)" in err
    starts = [0, SHOT_FRAMES, 2 * SHOT_FRAMES]
    manifest = read_manifest(keys)
    assert [k["frame"] for k in manifest["keyframes"]] == starts
    assert [k["pts"] for k in manifest["keyframes"]] == [pts[i] for i in starts]
    time_base = Fraction(manifest["time_base"])
    pngs = sorted(keys.glob("*.png"))
    assert [p.name for p in pngs] == [f"{format_timecode(pts[i] * time_base)}.png" for i in starts]
    # the exported luma is the frame's: compare with a decode of the same frames
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
    for p, i in zip(pngs, starts, strict=True):
        g = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        assert g.shape == (96, 160) and g.dtype == np.uint8
        assert np.abs(g.astype(int) - frames[i]).mean() < 1.5  # limited → full range, as swscale
        # colour it in an "editor"; the name is kept
        tint = np.stack([g // 2, g, np.maximum(g, 120)], -1)
        cv2.imwrite(str(p), tint)
    refs = load_references(GuideConfig(references_dir=str(keys)))
    assert len(refs) == 3
    for ref, i in zip(refs, starts, strict=True):
        nearest = min(range(len(pts)), key=lambda k: abs(pts[k] * time_base - ref.time))
        assert nearest == i
    # restore finds the same shots at the same render size
    report = restore(clip, tmp_path / "out.mp4", const_config)
    assert [c["pts"] for c in report.cuts] == [pts[i] for i in starts[1:]]
    again = export_keyframes(clip, tmp_path / "k64", render_size=TEST_RENDER)
    assert [k.frame for k in again] == starts


def test_keyframes_refuse_to_clobber_an_earlier_export(
    shots_clip: tuple[Path, list[int]], tmp_path: Path
) -> None:
    clip, _ = shots_clip
    keys = tmp_path / "keys"
    export_keyframes(clip, keys)
    stale = keys / "00-09-00.000.png"  # a shot of an earlier export that is gone now
    coloured(stale)
    manifest = json.loads((keys / "keyframes.json").read_text())
    manifest["keyframes"].append({**manifest["keyframes"][0], "file": stale.name})
    (keys / "keyframes.json").write_text(json.dumps(manifest))
    users = keys / "00-08-00.000.png"  # timecode-named, but not filmcolor's: kept
    coloured(users)
    before = {p.name: p.stat().st_mtime_ns for p in keys.iterdir()}
    code, err = cli("keyframes", clip, "-o", keys, "-q")
    assert code == 2
    assert_one_line_error(err, str(keys), "--overwrite")
    assert {p.name: p.stat().st_mtime_ns for p in keys.iterdir()} == before
    code, err = cli("keyframes", clip, "-o", keys, "--overwrite", "-q")
    assert code == 0 and err == ""
    assert not stale.exists()  # an earlier export's shot that is gone
    assert users.exists()
    assert len(list(keys.glob("*.png"))) == 4
    code, err = cli("keyframes", tmp_path / "nope.mp4", "-o", keys)
    assert code == 3
    assert_one_line_error(err, "nope.mp4")


def _blurred_shots_clip(path: Path, sharp: list[int]) -> list[int]:
    """Two shots of 8 frames (16-bit gray FFV1): every frame blurred except those in
    ``sharp``. Returns the pts."""
    rng = np.random.default_rng(7)
    out_pts = []
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "gray16le"
        for i in range(16):
            if i % 8 == 0:
                base = rng.random((64, 96)).astype(np.float32)
            img = base if i in sharp else cv2.GaussianBlur(base, (0, 0), 1.0 + (i % 3))
            frame = av.VideoFrame.from_ndarray((img * 60000).astype(np.uint16), "gray16le")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as inp:
        out_pts = [f.pts for f in inp.decode(video=0)]
    return out_pts


def test_keyframes_sharpest_picks_the_unblurred_frame_of_each_shot(tmp_path: Path) -> None:
    clip = tmp_path / "blur.mkv"
    pts = _blurred_shots_clip(clip, sharp=[5, 10])
    written = export_keyframes(clip, tmp_path / "keys", pick="sharpest")
    assert [k.frame for k in written] == [5, 10]
    assert [k.pts for k in written] == [pts[5], pts[10]]
    png = cv2.imread(str(written[0].path), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape == (64, 96)
    first = export_keyframes(clip, tmp_path / "first")
    assert [k.frame for k in first] == [0, 8]
