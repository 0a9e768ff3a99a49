"""Limits that refuse instead of dying: picture size, hints, references, JSON depth.

Every limit is checked before the expensive part (decoding a picture, parsing a list,
reading the references), ends in one line naming the limit and its option, and exits 3 for
media (a picture too large) or 2 for files given as options. The hostile inputs are built
here cheaply: a 20000 × 20000 PNG of 389 kB written by hand, a million hints as text.
"""

from __future__ import annotations

import json
import resource
import struct
import subprocess
import sys
import time
import zlib
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import TEST_RENDER, assert_one_line_error
from mediagen import make_image, make_video

from filmcolor.cli import main
from filmcolor.cli.batch import batch as batch_command
from filmcolor.cli.options import effective_config
from filmcolor.cli.restore import restore as restore_command
from filmcolor.cli.watch import watch as watch_command
from filmcolor.config import MAX_JSON_DEPTH, GuideConfig, LimitsConfig
from filmcolor.errors import InputError, MediaError, UsageError
from filmcolor.guide.hints import HintCanvas, load_hints, rasterize
from filmcolor.guide.keyframes import read_manifest
from filmcolor.guide.propagate import Layer, Propagator
from filmcolor.guide.sources import check_paths, load_references
from filmcolor.guide.types import Hint
from filmcolor.jsonfile import json_shape, parse_json
from filmcolor.media.decode import DecodeStats, iter_media
from filmcolor.media.images import picture_size, read_picture
from filmcolor.media.probe import open_input, probe
from filmcolor.temporal.flow import FlowEstimator

HINT = '{"time": [0, null], "point": [0.5, 0.5], "radius": 0.05, "color": "#a03020"}'


def cli(*args: str | Path | int) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


def run_child(args: list[str], address_space: int | None = None) -> tuple[int, str, float, int]:
    """Run ``python -m filmcolor ARGS``; its exit code, stderr, CPU seconds and peak RSS (bytes).

    The CPU time, not the wall clock, is compared with the limits: the test machine may be
    busy with other work."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)

    def cap() -> None:
        if address_space is not None:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

    proc = subprocess.run(
        [sys.executable, "-m", "filmcolor", *args],
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=300,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.returncode, proc.stderr, cpu, after.ru_maxrss * 1024


def zero_png(path: Path, width: int, height: int, rows: int = 1000) -> Path:
    """An all-black 8-bit gray PNG of any size, without the pixels ever being in memory: one
    block of ``rows`` rows is deflated once (full flush: it stands alone) and repeated, and
    the zlib checksum is computed for the whole. 20000 × 20000 is 389 kB."""
    assert height % rows == 0
    block = bytes((width + 1) * rows)  # filter byte 0 + the row
    comp = zlib.compressobj(9)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)  # zlib header + block
    again = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    end = comp.flush()[:-4]  # the final empty block, without the checksum
    checksum = 1
    for _ in range(height // rows):
        checksum = zlib.adler32(block, checksum)
    idat = first + again * (height // rows - 1) + end + struct.pack(">I", checksum)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    make_video(path, frames=8, width=96, height=64)
    return path


# --------------------------------------------------------------------------- picture size


def test_zero_png_is_a_valid_picture(tmp_path: Path) -> None:
    small = zero_png(tmp_path / "z.png", 30, 40, rows=10)
    img = cv2.imread(str(small), cv2.IMREAD_UNCHANGED)
    assert img.shape == (40, 30) and not img.any()


@pytest.mark.slow
def test_png_bomb_exits_3_in_seconds_under_8_gb(tmp_path: Path, const_weights: Path) -> None:
    """A 389 kB PNG of 20000 × 20000: refused from its header, never decoded (the whole run,
    torch import included, under an 8 GB address-space limit)."""
    bomb = zero_png(tmp_path / "bomb.png", 20000, 20000)
    assert bomb.stat().st_size < 500_000
    out = tmp_path / "out.png"
    args = ["restore", str(bomb), "-o", str(out), "--weights", str(const_weights)]
    code, err, cpu, rss = run_child([*args, "--device", "cpu"], address_space=8_000_000_000)
    assert code == 3, err
    assert_one_line_error(err, "20000x20000", "400.0 megapixels", "67108864", "--max-pixels")
    assert "max-pixels in a --config file" in err
    assert cpu < 30 and rss < 2_000_000_000
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["bomb.png"]


def _vp8x(width: int, height: int) -> bytes:
    body = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    body += (height - 1).to_bytes(3, "little")
    return (
        b"RIFF" + struct.pack("<I", 4 + 8 + len(body)) + b"WEBPVP8X" + struct.pack("<I", 10) + body
    )


def _bigtiff(width: int, height: int, order: str = "<") -> bytes:
    mark = b"II" if order == "<" else b"MM"
    head = mark + struct.pack(order + "HHHQ", 43, 8, 0, 16)
    entries = [(256, 16, 1, width), (257, 4, 1, height)]  # LONG8 and LONG values
    ifd = struct.pack(order + "Q", len(entries))
    for tag, kind, count, value in entries:
        fmt = "Q" if kind == 16 else "I"
        data = struct.pack(order + fmt, value).ljust(8, b"\x00")
        ifd += struct.pack(order + "HHQ", tag, kind, count) + data
    return head + ifd + struct.pack(order + "Q", 0)


def _os2_bmp(width: int, height: int) -> bytes:
    return (
        b"BM" + struct.pack("<IHHI", 26, 0, 0, 26) + struct.pack("<IHHHH", 12, width, height, 1, 8)
    )


@pytest.mark.parametrize(
    ("name", "params", "shape"),
    [
        ("a.png", [], (37, 53, 3)),
        ("a.jpg", [], (37, 53)),
        ("a.jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], (300, 17, 3)),
        ("a.tif", [], (37, 53, 3)),
        ("a.tif", [cv2.IMWRITE_TIFF_COMPRESSION, 1], (41, 29)),
        ("a.webp", [], (37, 53, 3)),
        ("a.webp", [cv2.IMWRITE_WEBP_QUALITY, 101], (37, 53, 3)),  # lossless: VP8L
        ("a.bmp", [], (37, 53, 3)),
    ],
)
def test_picture_size_from_the_header(
    tmp_path: Path, name: str, params: list[int], shape: tuple[int, ...]
) -> None:
    path = tmp_path / name
    img = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    assert cv2.imwrite(str(path), img, params)
    assert picture_size(path) == (shape[1], shape[0])


def test_picture_size_of_rarer_headers(tmp_path: Path) -> None:
    # EXIF before the frame header; 16 bits; WebP's extended header; BigTIFF; OS/2 BMP
    make_image(tmp_path / "exif.jpg", width=40, height=30, exif_orientation=6)
    assert picture_size(tmp_path / "exif.jpg") == (40, 30)  # as stored: same pixel count
    make_image(tmp_path / "deep.png", width=21, height=13, bits=16)
    assert picture_size(tmp_path / "deep.png") == (21, 13)
    (tmp_path / "x.webp").write_bytes(_vp8x(70000, 300))
    assert picture_size(tmp_path / "x.webp") == (70000, 300)
    for order in "<>":
        (tmp_path / "big.tif").write_bytes(_bigtiff(123456, 7, order))
        assert picture_size(tmp_path / "big.tif") == (123456, 7)
    (tmp_path / "os2.bmp").write_bytes(_os2_bmp(640, 480))
    assert picture_size(tmp_path / "os2.bmp") == (640, 480)


def test_unknown_or_damaged_headers_are_input_errors(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(b"P5\n20000 20000\n255\n")  # a PGM named .png
    (tmp_path / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # cut short
    (tmp_path / "c.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF")  # no frame header
    for name, words in [
        ("a.png", ["not a JPEG, PNG, TIFF, WebP or BMP picture"]),
        ("b.png", ["damaged PNG header"]),
        ("c.jpg", ["damaged JPEG header"]),
    ]:
        with pytest.raises(InputError) as info:
            read_picture(tmp_path / name)
        for word in words:
            assert word in str(info.value)


def test_max_pixels_option_and_settings_key(
    tmp_path: Path, clip: Path, const_weights: Path
) -> None:
    image = tmp_path / "p.png"
    make_image(image, width=64, height=48)
    assert read_picture(image, max_pixels=64 * 48).luma.shape == (48, 64)  # at the limit
    with pytest.raises(InputError, match="64x48"):
        read_picture(image, max_pixels=64 * 48 - 1)
    common = ["--weights", const_weights, "--device", "cpu", "--render-size", TEST_RENDER]
    code, err = cli("restore", image, "-o", tmp_path / "o.png", "--max-pixels", 3000, *common)
    assert code == 3
    assert_one_line_error(err, "p.png", "64x48", "limit of 3000 pixels", "--max-pixels")
    settings = tmp_path / "s.toml"
    settings.write_text("max-pixels = 3000\n")
    code, err = cli("restore", clip, "-o", tmp_path / "o.mp4", "--config", settings, *common)
    assert code == 3
    assert_one_line_error(err, "clip.mp4", "video of 96x64", "limit of 3000 pixels")
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.png").exists()
    code, err = cli("restore", image, "-o", tmp_path / "o.png", "--max-pixels", 0)
    assert code == 2
    assert_one_line_error(err, "--max-pixels 0")


def test_every_video_command_takes_max_pixels(tmp_path: Path, clip: Path) -> None:
    code, err = cli("keyframes", clip, "-o", tmp_path / "keys", "--max-pixels", 6000)
    assert code == 3
    assert_one_line_error(err, "96x64", "limit of 6000 pixels")
    assert not (tmp_path / "keys").exists()  # refused before the folder is made
    code, err = cli("info", clip, "--max-pixels", 6000)
    assert code == 3
    assert_one_line_error(err, "96x64", "--max-pixels")
    code, err = cli("preview", clip, "-o", tmp_path / "s.png", "--max-pixels", 6000)
    assert code == 3
    assert_one_line_error(err, "96x64")
    assert cli("info", clip, "--max-pixels", 96 * 64)[0] == 0
    # batch and watch take it as restore does, into the config their workers get
    for command, argv in [
        (batch_command, ["in", "-o", "out", "--cluster", "local", "--max-pixels", "5000"]),
        (watch_command, ["in", "-o", "out", "--max-pixels", "5000"]),
        (restore_command, ["in", "-o", "out", "--max-pixels", "5000", "--max-hints", "7"]),
    ]:
        ctx = command.make_context(command.name, argv)
        config, sources = effective_config(ctx, ctx.params, None, False)
        assert config.limits.max_pixels == 5000, command.name
        assert "max_pixels" in sources["from_command_line"]
    settings = tmp_path / "s.toml"
    settings.write_text("max-pixels = 100\nmax-hints = 3\nmax-references = 4\n")
    ctx = watch_command.make_context("watch", ["in", "-o", "out"])
    config, _ = effective_config(ctx, ctx.params, settings, False)
    assert config.limits == LimitsConfig(max_pixels=100, max_hints=3, max_references=4)


def _growing_stream(path: Path, width: int, height: int, small: int = 3) -> Path:
    """Raw H.264: ``small`` 64×48 frames, then three ``width`` × ``height`` ones (a new SPS;
    after 200 small ones, beyond what opening the file reads to learn its size)."""
    data = b""
    for w, h, count in ((64, 48, small), (width, height, 3)):
        out = path.with_suffix(f".{w}.h264")
        with av.open(str(out), "w", format="h264") as container:
            stream = container.add_stream("libx264", rate=25, options={"preset": "ultrafast"})
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            for i in range(count):
                gray = np.full((h, w), 40 * i % 256, np.uint8)
                container.mux(stream.encode(av.VideoFrame.from_ndarray(gray, format="gray")))
            container.mux(stream.encode(None))
        data += out.read_bytes()
    path.write_bytes(data)
    return path


def test_frames_larger_than_the_first_are_refused(tmp_path: Path) -> None:
    """The header and the first frame say 64×48; later frames are larger: past the limit an
    input error; far larger than the first frame, the decoder may not even allocate them."""
    src = _growing_stream(tmp_path / "grow.h264", 640, 480)
    info = probe(src)
    assert (info.width, info.height) == (64, 48)
    with open_input(src) as container, pytest.raises(InputError) as error:
        list(iter_media(container, info, DecodeStats(), max_pixels=5000))
    assert "640x480" in str(error.value) and "limit of 5000 pixels" in str(error.value)
    huge = _growing_stream(tmp_path / "huge.h264", 2560, 1808, small=200)
    with open_input(huge) as container, pytest.raises(MediaError, match="to 2560x1808") as err:
        list(iter_media(container, probe(huge), DecodeStats()))
    # refused by the decoder (so the message names no pts: the frame was never made), not
    # by the check of a decoded frame's size
    assert "at pts" not in str(err.value)


def test_image_codecs_in_video_files_are_not_decoded_past_the_limit(tmp_path: Path) -> None:
    """PNG frames in a MOV: opening the file decodes one to learn its parameters; far past
    the limit not even that is done (the size is unknown then), nearer it the frame's own
    size is named."""
    src = tmp_path / "png.mov"
    width, height = 2600, 1800  # past DECODER_MIN_PIXELS, the least a decoder is allowed
    with av.open(str(src), "w") as container:
        stream = container.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "gray"
        frame = av.VideoFrame.from_ndarray(np.zeros((height, width), np.uint8), format="gray")
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert probe(src).width == width
    with pytest.raises(InputError, match="2600x1800"):
        probe(src, max_pixels=3_000_000)
    with pytest.raises(InputError, match="far larger than the limit of 1000 pixels"):
        probe(src, max_pixels=1000)


def test_reference_pictures_are_checked_before_decoding(tmp_path: Path) -> None:
    bomb = zero_png(tmp_path / "00-00-00.000.png", 20000, 20000)
    with pytest.raises(InputError, match="20000x20000"):
        load_references(GuideConfig(references=(str(bomb),)))
    small = tmp_path / "keys"
    small.mkdir()
    make_image(small / "00-00-01.000.png", width=64, height=48, gray=False)
    with pytest.raises(InputError, match="limit of 1000 pixels"):
        load_references(GuideConfig(references_dir=str(small)), LimitsConfig(max_pixels=1000))


# --------------------------------------------------------------------------- hints


def _hints_text(count: int, entry: str = HINT) -> str:
    return '{"hints": [' + ", ".join([entry] * count) + "]}"


@pytest.mark.slow
def test_a_million_hints_is_a_usage_error_in_seconds(tmp_path: Path, clip: Path) -> None:
    hints = tmp_path / "h.json"
    hints.write_text(_hints_text(1_000_000))
    code, err, cpu, rss = run_child(["restore", str(clip), "-o", str(tmp_path / "o.mp4"),
                                     "--hints", str(hints)])  # fmt: skip
    assert code == 2, err
    assert_one_line_error(err, "h.json", "more than 10000 colour hints", "--max-hints")
    assert cpu < 5 and rss < 1_000_000_000


def test_max_hints_option(tmp_path: Path) -> None:
    hints = tmp_path / "h.json"
    hints.write_text(_hints_text(3))
    assert len(load_hints(hints, limits=LimitsConfig(max_hints=3))) == 3
    with pytest.raises(UsageError, match="more than 2 colour hints"):
        load_hints(hints, limits=LimitsConfig(max_hints=2))
    with pytest.raises(UsageError, match="--max-hints"):
        check_paths(GuideConfig(hints=str(hints)), LimitsConfig(max_hints=2))
    code, err = cli("restore", "nothing.mp4", "-o", tmp_path / "o.mp4", "--hints", hints,
                    "--max-hints", 2)  # fmt: skip
    assert code == 2
    assert_one_line_error(err, "h.json", "more than 2 colour hints")


def test_hint_extent_is_clipped_or_refused(tmp_path: Path) -> None:
    def load(entry: dict, **top: object) -> list[Hint]:
        path = tmp_path / "h.json"
        path.write_text(json.dumps({**top, "hints": [{"time": 0, "color": "#fff", **entry}]}))
        return load_hints(path)

    (hint,) = load({"box": [-0.25, 0.2, 1.5, 0.8]})
    assert hint.coords == (0.0, 0.2, 1.0, 0.8)  # clipped to the frame
    (hint,) = load({"box": [-20, 10, 120, 40]}, units="pixels", width=100, height=50)
    assert hint.coords == (0.0, 0.2, 1.0, 0.8)
    for entry, words in [
        ({"box": [0.1, 0.1, 1e9, 0.5]}, ["too far beyond the picture", "1000000000.0"]),
        ({"box": [-5, 0, 0.5, 1]}, ["too far beyond the picture"]),
        ({"box": [1.2, 0.1, 1.9, 0.5]}, ["lies outside the picture"]),
        ({"point": [1e300, 0.5]}, ["fractions in [0, 1]"]),
    ]:
        with pytest.raises(UsageError) as info:
            load(entry)
        for word in words:
            assert word in str(info.value), str(info.value)
    with pytest.raises(UsageError, match="larger than any picture"):
        load({"point": [5, 5]}, units="pixels", width=100_000, height=100_000)


def _peak_rss_of_restore(tmp_path: Path, clip: Path, weights: Path, hints: Path) -> int:
    """Peak RSS (bytes) of a fresh process that restores ``clip`` with ``hints``."""
    code = f"""
import resource
from filmcolor.config import ColorizeConfig, GuideConfig, RestoreConfig
from filmcolor.facade import restore
config = RestoreConfig(
    weights={str(weights)!r},
    colorize=ColorizeConfig(device="cpu", render_size={TEST_RENDER}, batch_size=4),
    guide=GuideConfig(hints={str(hints)!r}),
    overwrite=True,
)
report = restore({str(clip)!r}, {str(tmp_path / "out.mp4")!r}, config)
assert report.guide["frames_guided"] == report.frames_out, report.guide["frames_guided"]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.split()[-1]) * 1024


@pytest.mark.slow
def test_memory_does_not_grow_with_the_number_of_hints(
    tmp_path: Path, clip: Path, const_weights: Path
) -> None:
    """5000 hints (boxes and points, every frame of the clip, ends of all kinds) cost no more
    memory than 50: they are carried as one canvas, not one layer each."""
    rng = np.random.default_rng(0)

    def hints_file(count: int) -> Path:
        entries = []
        for i in range(count):
            start = int(rng.integers(0, 6))
            end = None if i % 3 == 0 else round(start / 24 + float(rng.uniform(0, 0.3)), 3)
            colour = [int(c) for c in rng.integers(0, 256, 3)]
            x, y = (float(v) for v in rng.uniform(0.1, 0.7, 2))
            if i % 2:
                entry = {"point": [x, y], "radius": 0.05}
            else:
                entry = {"box": [x, y, x + 0.2, y + 0.25]}
            entries.append({"time": [start / 24, end], "color": colour, **entry})
        path = tmp_path / f"hints-{count}.json"
        path.write_text(json.dumps({"hints": entries}))
        return path

    few = _peak_rss_of_restore(tmp_path, clip, const_weights, hints_file(50))
    many = _peak_rss_of_restore(tmp_path, clip, const_weights, hints_file(5000))
    assert many - few < 40_000_000, (few, many)


def test_canvas_of_one_hint_carries_it_as_a_layer() -> None:
    """With one hint the canvas is that hint's layer in a ``Propagator``: same colour, same
    confidence frame after frame (flow, trust, decay, realignment, end time)."""
    rng = np.random.default_rng(1)
    h, w = 48, 64
    base = cv2.GaussianBlur(rng.uniform(0, 100, (h, w)).astype(np.float32), (0, 0), 3)
    frames = [np.roll(base, 2 * k, axis=1) for k in range(6)]
    hint = Hint("box", (0.2, 0.2, 0.6, 0.7), (200, 60, 40), Fraction(0), Fraction(4, 24))
    flows = FlowEstimator("fast")
    canvas = HintCanvas(0.98, 10.0, flows)
    layers = Propagator(0.98, 10.0, flows)
    ab, conf = rasterize(hint, h, w)
    for k, L in enumerate(frames):
        now = Fraction(k, 24)
        if k == 0:
            canvas.paint([hint], L)
            layers.add(Layer(ab, L.copy(), conf), hint.end)
        else:
            from filmcolor.guide.propagate import flow_trust

            flow, trust = flow_trust(flows, L, frames[k - 1], 8.0)
            canvas.step(L, flow, trust, now)
            layers.step(L, flow, trust, now)
        expected, got = layers.colour(L), canvas.colour(L)
        if expected is None:  # past its end
            assert got is None or float(got[1].max()) == 0.0
            continue
        assert got is not None
        sure = expected[1] > 0.05
        np.testing.assert_allclose(got[1], expected[1], atol=1e-4)
        np.testing.assert_allclose(got[0][:, sure], expected[0][:, sure], atol=1e-3)
    assert k == 5 and expected is None  # the hint ended after 4/24 s


def test_canvas_draws_later_hints_over_earlier_and_ends_each_on_time() -> None:
    h, w = 40, 60
    L = np.full((h, w), 50.0, np.float32)
    still = np.zeros((h, w, 2), np.float32)
    trust = np.ones((h, w), np.float32)
    red = Hint("box", (0.0, 0.0, 0.6, 1.0), (220, 30, 30), Fraction(0), None)
    blue = Hint("box", (0.4, 0.0, 1.0, 1.0), (30, 30, 220), Fraction(0), Fraction(1, 10))
    canvas = HintCanvas(1.0, 10.0)
    canvas.paint([red, blue], L)
    ab, conf = canvas.colour(L)  # type: ignore[misc]
    red_ab, _ = rasterize(red, h, w)
    blue_ab, _ = rasterize(blue, h, w)
    np.testing.assert_allclose(ab[:, 20, 10], red_ab[:, 0, 0], atol=1e-3)  # red alone
    np.testing.assert_allclose(ab[:, 20, 30], blue_ab[:, 0, 0], atol=1e-3)  # blue over red
    np.testing.assert_allclose(ab[:, 20, 50], blue_ab[:, 0, 0], atol=1e-3)
    assert conf[20, 10] == conf[20, 30] == conf[20, 50] == 1.0
    canvas.step(L, still, trust, Fraction(1, 20))
    assert canvas.colour(L)[1][20, 50] == 1.0  # type: ignore[index]
    canvas.step(L, still, trust, Fraction(2, 10))  # past blue's end: blue's pixels drop
    ab, conf = canvas.colour(L)  # type: ignore[misc]
    assert conf[20, 50] == 0.0 and conf[20, 30] == 0.0 and conf[20, 10] == 1.0
    canvas.step(L, None, None, Fraction(3, 10))  # a cut clears it
    assert canvas.empty and canvas.colour(L) is None


# --------------------------------------------------------------------------- references


@pytest.mark.slow
def test_100k_references_are_a_usage_error_before_any_picture_is_read(
    tmp_path: Path, clip: Path
) -> None:
    picture = tmp_path / "a.png"
    make_image(picture, gray=False)
    listing = tmp_path / "refs.json"
    listing.write_text(json.dumps([{"time": None, "image": "a.png"}] * 100_000))
    code, err, cpu, rss = run_child(["restore", str(clip), "-o", str(tmp_path / "o.mp4"),
                                     "--references", str(listing)])  # fmt: skip
    assert code == 2, err
    assert_one_line_error(err, "refs.json", "more than 5000 reference pictures",
                          "--max-references")  # fmt: skip
    assert cpu < 5 and rss < 1_000_000_000
    table = tmp_path / "refs.csv"
    table.write_text("time,image\n" + "".join(f"{i},a.png\n" for i in range(100_000)))
    t0 = time.process_time()
    with pytest.raises(UsageError, match="more than 5000 reference pictures"):
        check_paths(GuideConfig(references_dir=str(table)))
    assert time.process_time() - t0 < 2
    # 100k times the same file as --reference, from a settings file
    settings = tmp_path / "s.toml"
    settings.write_text("reference = [" + ", ".join(['"a.png"'] * 100_000) + "]\n")
    t0 = time.process_time()
    code, err = cli("restore", clip, "-o", tmp_path / "o.mp4", "--config", settings)
    assert code == 2
    assert_one_line_error(err, "--reference", "more than 5000 reference pictures")
    assert time.process_time() - t0 < 5


def test_reference_count_and_times_are_checked_before_reading(tmp_path: Path) -> None:
    """Pictures that are not pictures at all: only a check made before reading them can
    answer with the usage error."""
    for name in ("a.png", "b.png", "c.png", "00-00-01.000.png", "00-00-02.000.png"):
        (tmp_path / name).write_bytes(b"not a picture")
    three = tuple(str(tmp_path / n) for n in ("a.png", "b.png", "c.png"))
    with pytest.raises(UsageError, match="--max-references"):
        load_references(GuideConfig(references=three), LimitsConfig(max_references=2))
    listing = tmp_path / "refs.json"
    listing.write_text(json.dumps([{"time": 1, "image": "a.png"}, {"time": 1, "image": "b.png"}]))
    with pytest.raises(UsageError, match="one reference per frame"):
        load_references(GuideConfig(references_dir=str(listing)))
    with pytest.raises(UsageError, match="more than 1 reference pictures"):
        load_references(
            GuideConfig(references=three[:1], references_dir=str(listing)),
            LimitsConfig(max_references=2),
        )
    folder = tmp_path / "keys"
    folder.mkdir()
    for name in ("00-00-01.000.png", "00-00-02.000.png", "00-00-03.000.png"):
        (folder / name).write_bytes(b"not a picture")
    with pytest.raises(UsageError, match="holds more than 2 reference pictures"):
        load_references(GuideConfig(references_dir=str(folder)), LimitsConfig(max_references=2))
    with pytest.raises(InputError):  # within the limit: the pictures are read, and fail
        load_references(GuideConfig(references_dir=str(folder)), LimitsConfig(max_references=3))


def test_a_picture_named_many_times_is_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import filmcolor.guide.sources as sources

    make_image(tmp_path / "a.png", gray=False)
    listing = tmp_path / "refs.json"
    listing.write_text(json.dumps([{"time": i, "image": "a.png"} for i in range(50)]))
    reads = []
    real = sources.read_rgb

    def counting(path: object, max_pixels: int) -> np.ndarray:
        reads.append(path)
        return real(path, max_pixels)  # type: ignore[arg-type]

    monkeypatch.setattr(sources, "read_rgb", counting)
    refs = load_references(GuideConfig(references_dir=str(listing)))
    assert len(refs) == 50 and len(reads) == 1


# --------------------------------------------------------------------------- JSON depth


def test_json_shape_known_values() -> None:
    cases = {
        "3": (0, 0),
        "[]": (1, 0),
        '{"a": "x[{\\"}", "b": [1, {"c": []}]}': (4, 2),
        '["\\\\", "[[[", {}]': (2, 1),
        '{"p": "C:\\\\x\\\\{"}': (1, 1),
        '"é{[ü"': (0, 0),
        "[" * 100_000 + "]" * 100_000: (100_000, 0),
    }
    for text, expected in cases.items():
        shape = json_shape(text)
        assert (shape.depth, shape.objects) == expected, text[:40]
    rng = np.random.default_rng(3)

    def value(level: int) -> object:
        r = rng.random()
        if level > 5 or r < 0.3:
            return "".join(rng.choice(list('[]{}"\\aé\n'), int(rng.integers(0, 5))))
        if r < 0.65:
            return [value(level + 1) for _ in range(int(rng.integers(0, 3)))]
        return {str(k) + "{": value(level + 1) for k in range(int(rng.integers(0, 3)))}

    def truth(v: object) -> tuple[int, int]:
        kids = list(v.values()) if isinstance(v, dict) else v if isinstance(v, list) else []
        depth = max((truth(k)[0] for k in kids), default=0)
        objects = sum(truth(k)[1] for k in kids) + isinstance(v, dict)
        return depth + isinstance(v, list | dict), objects

    for _ in range(300):
        v = value(0)
        text = json.dumps(v, ensure_ascii=bool(rng.integers(0, 2)))
        shape = json_shape(text)
        assert (shape.depth, shape.objects) == truth(v), text


def test_deep_json_is_a_usage_error_naming_the_file(tmp_path: Path, clip: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(UsageError, match=f"nested 100000 levels deep.*at most {MAX_JSON_DEPTH}"):
        parse_json(deep, "x.json")
    assert parse_json("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH, "x.json") is not None
    hints = tmp_path / "hints.json"
    hints.write_text('{"hints": ' + deep + "}")
    refs = tmp_path / "refs.json"
    refs.write_text(deep)
    for option, path in (("--hints", hints), ("--references", refs)):
        code, err = cli("restore", clip, "-o", tmp_path / "o.mp4", option, path)
        assert code == 2, err
        assert_one_line_error(err, path.name, "JSON nested 1000", f"at most {MAX_JSON_DEPTH}")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "keyframes.json").write_text(deep)
    with pytest.raises(UsageError, match=r"keyframes\.json: JSON nested"):
        read_manifest(keys)
    from filmcolor.train.data import discover

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "manifest.json").write_text('{"images": ' + deep + "}")
    with pytest.raises(UsageError, match=r"manifest\.json: JSON nested"):
        discover(corpus)


def test_deep_toml_is_a_usage_error(tmp_path: Path, clip: Path) -> None:
    settings = tmp_path / "s.toml"
    settings.write_text("saturation = " + "[" * 100_000 + "]" * 100_000 + "\n")
    code, err = cli("restore", clip, "-o", tmp_path / "o.mp4", "--config", settings)
    assert code == 2
    assert_one_line_error(err, "s.toml", "nested too deeply")
