"""Segmented restores: split a film at keyframes (``plan``), restore the parts here or on a
cluster (``run``), resume after a crash (``workdir``), and stitch the parts into one file
(``concat``).

How a film is cut and put back together:

- **Plan.** The video's packets are read without decoding: their pts give every frame's
  time, their key flags the places a decoder can start. Segments of about
  ``segment_seconds`` start at keyframes; near each target length a keyframe the encoder
  placed off its regular interval (what encoders do at a scene change) is preferred, so
  segments tend to start on shot cuts.
- **Warm-up.** Each segment decodes ``overlap_frames`` frames before its start (seeking to
  the keyframe before them) and runs them through the tone filters, the model and the
  temporal smoother, but does not write them: the smoother and the deflicker enter the
  segment with the state a single pass would have (to within a few code values of chroma),
  and keyframes (``--keyframe-interval``) follow the film's frame numbers.
- **Parts.** Each segment is a video-only file of the output's container and encoder
  settings in the work folder, written atomically; the manifest records each finished one.
  On one machine the segments still to do run as one pass that starts a new part (and a
  new encoder) at each boundary (``restore_consecutive``), so memory and speed are those of
  a single pass; on a cluster each segment is a task of its own (``restore_segment``).
- **Stitch.** The parts' packets are concatenated without re-encoding (every part starts
  on a keyframe of its own, with the same encoder settings, so the bitstreams join), and
  the audio, subtitles, chapters and tags are copied once from the original. Frame count
  and every pts equal a single-pass run's.

Resume: the manifest (``manifest.json``) holds the input's identity, the settings that
change the pictures, and the plan. Running the same command again skips the finished
segments whose files are still there; anything else that differs starts over.
"""

from .concat import stitch
from .plan import PacketIndex, Segment, index_packets, plan_segments, should_segment
from .run import (
    Runner,
    SegmentJob,
    SegmentResult,
    local_runner,
    restore_consecutive,
    restore_segment,
    restore_segmented,
)
from .workdir import MANIFEST, WORK_MARKER, WorkDir, default_work_dir

__all__ = [
    "MANIFEST",
    "WORK_MARKER",
    "PacketIndex",
    "Runner",
    "Segment",
    "SegmentJob",
    "SegmentResult",
    "WorkDir",
    "default_work_dir",
    "index_packets",
    "local_runner",
    "plan_segments",
    "restore_consecutive",
    "restore_segment",
    "restore_segmented",
    "should_segment",
    "stitch",
]
