"""The stage shape: batches go through the stages in order, and held batches come out at
the flush, through the stages after the one that held them."""

from __future__ import annotations

from filmcolor.stage import FrameBatch, Stage, flush_stages, run_stages


class Tag:
    """Latency 0: appends its name to each batch's items."""

    latency = 0
    clocks = ("tag",)

    def __init__(self, name: str) -> None:
        self.name = name

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        batch.items.append(self.name)
        return [batch]

    def flush(self) -> list[FrameBatch]:
        return []


class HoldOne:
    """Latency 1: releases each batch when the next one arrives; the last at the flush."""

    latency = 1
    clocks = ("hold",)

    def __init__(self) -> None:
        self.held: FrameBatch | None = None

    def push(self, batch: FrameBatch) -> list[FrameBatch]:
        out, self.held = ([] if self.held is None else [self.held]), batch
        return out

    def flush(self) -> list[FrameBatch]:
        out, self.held = ([] if self.held is None else [self.held]), None
        return out


def test_held_batches_keep_their_order_and_pass_every_later_stage() -> None:
    stages: list[Stage] = [Tag("a"), HoldOne(), Tag("b"), HoldOne(), Tag("c")]
    seen: list[str] = []

    def clock(stage: Stage, seconds: float) -> None:
        assert seconds >= 0
        seen.extend(stage.clocks)

    out: list[FrameBatch] = []
    for k in range(3):
        out += run_stages(stages, [FrameBatch([k])], clock)
    assert [b.items[0] for b in out] == [0]  # two stages each hold one batch
    out += flush_stages(stages, clock)
    assert [b.items for b in out] == [[k, "a", "b", "c"] for k in range(3)]
    assert seen.count("hold") >= 2 * 3 + 2  # every push and every flush is timed


def test_a_batch_without_frames_passes() -> None:
    batch = FrameBatch(["packet"])
    assert batch.frames == []
    assert run_stages([Tag("a")], [batch], lambda s, t: None) == [batch]
