"""The media matrix: real-world codecs and containers, each restored frame-exact.

Each clip of ``mediagen.MATRIX`` (MPEG-2 in TS, interlaced; MJPEG in AVI; ProRes 422 10-bit
in MOV; VP9 and Opus in WebM; HEVC 10-bit in MKV; MPEG-4 Part 2 with B-frames in AVI; AV1
10-bit in MKV; v210 in MOV; HuffYUV in AVI; H.264 MBAFF and H.264 open-GOP with B-frames in
MP4; raw gray in MKV; MPEG-2 in MXF) is made here with PyAV and restored with the default
settings (a small render size): the output has every frame at the same time (the input's
decoded pts through the two time bases), the same picture size, and the audio packets
copied untouched. A codec this PyAV build lacks is skipped, naming it.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from mediagen import MATRIX, aac_payload, make_matrix_clip, matrix_needs, probe_streams, rescale

from filmcolor.config import RestoreConfig
from filmcolor.facade import restore
from filmcolor.report import RestoreReport

pytestmark = pytest.mark.slow

#: Output container by input container: MP4 and MOV stay (exact time bases), the rest
#: become Matroska, which holds every codec here (the policy's choice for AVI, TS, MXF).
OUTPUT_EXT = {".mp4": ".mp4", ".mov": ".mov"}


def _decoded_pts(path: Path) -> tuple[list[int], Fraction]:
    streams = probe_streams(path)
    video = streams["video"][0]
    assert None not in video["pts"], f"{path.name}: a frame without pts"
    return video["pts"], Fraction(video["time_base"])


def _audio(path: Path) -> tuple[str, list[bytes]]:
    audio = probe_streams(path, decode=False)["audio"]
    assert len(audio) == 1, f"{path.name}: {len(audio)} audio streams"
    return audio[0]["codec"], [aac_payload(p) for p in audio[0]["packets"]]


def _assert_is_what_it_says(path: Path, check: dict[str, object]) -> None:
    """The clip really is interlaced / has reordered frames / has deep luma."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if "bits" in check:
            assert stream.codec_context.format.components[0].bits == check["bits"]
        if check.get("reordered"):
            pts = [p.pts for p in container.demux(stream) if p.size and p.pts is not None]
            assert pts != sorted(pts), f"{path.name}: no B-frames (packets in pts order)"
            container.seek(0)
        if check.get("interlaced"):
            frame = next(container.decode(stream))
            assert frame.interlaced_frame, f"{path.name}: not interlaced"


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_matrix_input_restores_frame_exact_with_its_audio(
    tmp_path: Path, const_config: RestoreConfig, name: str
) -> None:
    missing = matrix_needs(name)
    if missing:
        pytest.skip(f"this PyAV build lacks {', '.join(missing)}")
    src = make_matrix_clip(tmp_path, name)
    _assert_is_what_it_says(src, MATRIX[name].get("check", {}))
    dst = tmp_path / f"out{OUTPUT_EXT.get(src.suffix, '.mkv')}"

    report = restore(src, dst, const_config)

    assert isinstance(report, RestoreReport)
    pts_in, tb_in = _decoded_pts(src)
    pts_out, tb_out = _decoded_pts(dst)
    assert len(pts_in) == 24
    assert pts_out == [rescale(p, tb_in, tb_out) for p in pts_in]
    assert (report.frames_in, report.frames_out) == (24, 24)
    assert not report.frames_dropped and not report.frames_undecodable
    assert not report.packets_dropped
    out = probe_streams(dst, decode=False)["video"][0]
    assert (out["width"], out["height"]) == (
        MATRIX[name].get("width", 96),
        MATRIX[name].get("height", 64),
    )
    codec_in, audio_in = _audio(src)
    codec_out, audio_out = _audio(dst)
    assert codec_out == codec_in
    assert audio_out == audio_in
