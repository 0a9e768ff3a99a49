"""Shared fixtures: weights files built inside the tests (no trained weights needed)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from filmcolor.config import ColorizeConfig, ModelConfig, RestoreConfig
from filmcolor.model.unet import ColorUNet
from filmcolor.model.weights import save_weights

# The test networks are tiny and the pipeline runs decode and encode threads beside the
# model: one intra-op thread is faster here than the default of one per core (measured:
# three restore tests took 16.2 s with two threads on a busy 2-core machine, 5.0 s with one).
torch.set_num_threads(1)

#: The constant colour the test network predicts everywhere (Lab a, b).
CONST_AB = (20.0, -30.0)
#: A small render size keeps the model cheap on the CPU in tests.
TEST_RENDER = 64


def make_const_weights(path: Path, ab: tuple[float, float] = CONST_AB) -> Path:
    """A weights file whose network outputs the constant ``ab`` (regression head zeroed, bias
    set)."""
    torch.manual_seed(0)
    config = ModelConfig(head="regression")
    model = ColorUNet(config).eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.copy_(torch.tensor(ab))
    save_weights(path, model, config, half=False)
    return path


def randomise_bn(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """``model`` with non-trivial BatchNorm statistics (so that dropping or mis-folding them
    shows), in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    return model.eval()


@pytest.fixture(scope="session")
def const_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_const_weights(tmp_path_factory.mktemp("weights") / "const.safetensors")


@pytest.fixture(scope="session")
def const_config(const_weights: Path) -> RestoreConfig:
    return RestoreConfig(
        weights=str(const_weights),
        colorize=ColorizeConfig(device="cpu", render_size=TEST_RENDER, batch_size=4),
    )


def assert_one_line_error(err: str, *words: str) -> None:
    """The CLI said one line, ``filmcolor: error: ...``, holding each of ``words``."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("filmcolor: error: ")
    for word in words:
        assert word in lines[0], lines[0]


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a process started with ``start_new_session`` and everything in its group (a
    daemon and its workers), then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait(timeout=10)


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
