"""Network arithmetic (--precision) and host→device staging."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from filmcolor.config import ColorizeConfig
from filmcolor.errors import UsageError
from filmcolor.model.colorizer import Colorizer, HostStaging, resolve_precision


def test_precision_names() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) is None  # fp32 on the CPU
    assert resolve_precision("fp32", cpu) is None
    assert resolve_precision("bf16", cpu) is torch.bfloat16
    with pytest.raises(UsageError, match="CUDA only"):
        resolve_precision("fp16", cpu)
    with pytest.raises(UsageError, match="unknown precision"):
        resolve_precision("int8", cpu)


def test_bf16_autocast_close_to_fp32(const_weights: Path) -> None:
    """bf16 autocast is a real reduced-precision run (outputs differ) yet close to fp32."""
    torch.manual_seed(1)
    L = torch.rand(2, 1, 64, 96) * 100
    outs = {}
    for precision in ("fp32", "bf16"):
        c = Colorizer(const_weights, ColorizeConfig(device="cpu", precision=precision))
        # a trained-like spread of outputs: perturb the zeroed head so ab depends on L
        with torch.no_grad():
            c.model.head.weight.normal_(0, 0.05, generator=torch.Generator().manual_seed(0))
        outs[precision] = c.predict_low(L)
        assert outs[precision].dtype == torch.float32
    diff = (outs["fp32"] - outs["bf16"]).abs()
    assert float(diff.max()) > 0  # bf16 really ran
    assert float(diff.mean()) < 0.5  # within half a Lab unit on average


def test_staging_widens_uint16() -> None:
    staging = HostStaging(torch.device("cpu"))
    a = np.array([[0, 65535]], dtype=np.uint16)
    t = staging.to_device(a)
    assert t.dtype == torch.int32 and t.tolist() == [[0, 65535]]
    b = np.arange(6, dtype=np.uint8).reshape(2, 3)
    assert staging.to_device(b).tolist() == b.tolist()
