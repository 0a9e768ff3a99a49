"""The shipped weights format: one safetensors file holding the tensors and the model config.

No pickle is involved: the tensors are safetensors, the metadata is strings. The metadata
holds ``format`` (``"filmcolor-weights"``), ``format_version`` (``"1"``), ``model_config``
(the JSON of ``ModelConfig.to_dict()``) and any caller-given string pairs (training run,
data, date ...).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from filmcolor.atomic import atomic_output
from filmcolor.config import ModelConfig
from filmcolor.errors import WeightsError
from filmcolor.model.unet import ColorUNet

__all__ = [
    "DEFAULT_WEIGHTS_NAME",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "default_weights_path",
    "load_weights",
    "save_weights",
]

DEFAULT_WEIGHTS_NAME = "filmcolor-default.safetensors"
FORMAT_NAME = "filmcolor-weights"
FORMAT_VERSION = "1"
_RESERVED = frozenset({"format", "format_version", "model_config"})


def default_weights_path() -> Path:
    """The shipped weights file.

    An installed wheel carries it as ``filmcolor/_weights/filmcolor-default.safetensors``; a
    source checkout has it at ``weights/filmcolor-default.safetensors`` in the repository. The
    first that exists is returned, else the checkout path (which the caller reports missing).
    """
    package_dir = Path(__file__).resolve().parent.parent
    installed = package_dir / "_weights" / DEFAULT_WEIGHTS_NAME
    checkout = package_dir.parent / "weights" / DEFAULT_WEIGHTS_NAME
    for candidate in (installed, checkout):
        if candidate.is_file():
            return candidate
    return checkout


def _state_tensors(model: ColorUNet, half: bool) -> dict[str, torch.Tensor]:
    """The model's parameters and buffers minus ``num_batches_tracked``, contiguous on CPU."""
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        tensor = tensor.detach().to("cpu")
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float16 if half else torch.float32)
            if half and not torch.isfinite(tensor).all():
                raise ValueError(f"{name} does not fit in float16; save with half=False")
        tensors[name] = tensor.contiguous()
    return tensors


def save_weights(
    path: str | os.PathLike[str],
    model: ColorUNet,
    config: ModelConfig,
    *,
    metadata: dict[str, str] | None = None,
    half: bool = True,
) -> None:
    """Write ``model``'s tensors and ``config`` to a safetensors file at ``path``, atomically.

    Floating tensors are stored as float16 when ``half`` (else float32), BatchNorm running
    statistics included, ``num_batches_tracked`` left out. ``metadata`` adds string pairs to
    the file's metadata; the keys ``format``, ``format_version`` and ``model_config`` are
    reserved. The file is written to a temporary file in the same directory and moved into
    place with ``os.replace``, so readers never see a partial file.
    """
    extra = dict(metadata or {})
    clash = sorted(_RESERVED & extra.keys())
    if clash:
        raise ValueError(f"metadata keys {clash} are reserved by the weights format")
    bad = sorted(k for k, v in extra.items() if not isinstance(k, str) or not isinstance(v, str))
    if bad:
        raise ValueError(f"metadata keys and values must be strings: {bad}")
    if model.config != config:
        raise ValueError(f"config {config} is not the model's config {model.config}")
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_config": json.dumps(config.to_dict(), sort_keys=True),
        **extra,
    }
    tensors = _state_tensors(model, half)
    with atomic_output(Path(path), overwrite=True) as tmp:
        save_file(tensors, str(tmp), metadata=header)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())


def _fail(path: Path, problem: str, todo: str) -> WeightsError:
    return WeightsError(f"weights file {path}: {problem}; {todo}")


def load_weights(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[ColorUNet, ModelConfig, dict[str, str]]:
    """Read a weights file written by :func:`save_weights`.

    Returns ``(model, config, metadata)``: the :class:`ColorUNet` rebuilt from the stored
    config, its tensors loaded as float32, in eval mode, on ``device``; the config; and the
    caller-given metadata (the file's metadata without the reserved format keys).

    Every problem with the file raises :class:`WeightsError` with a one-line message naming
    the file: missing, not safetensors, wrong or missing format metadata, unparsable config,
    tensors that do not fit the model (missing, unexpected, wrong shape).
    """
    source = Path(path)
    if not source.is_file():
        what = "is a directory" if source.is_dir() else "not found"
        raise _fail(source, what, "pass --weights with an existing .safetensors file")
    try:
        with safe_open(str(source), framework="pt", device="cpu") as fh:
            header = fh.metadata() or {}
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except Exception as exc:  # safetensors raises several types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail(
            source, f"not a readable safetensors file ({reason})", "re-download or re-export it"
        ) from None

    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        raise _fail(
            source,
            f"metadata format is {fmt!r}, expected {FORMAT_NAME!r}",
            "use a file written by filmcolor's save_weights",
        )
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise _fail(
            source,
            f"format_version {version!r} is not supported (this filmcolor reads "
            f"{FORMAT_VERSION!r})",
            "use weights made for this filmcolor version or upgrade filmcolor",
        )
    try:
        raw = json.loads(header["model_config"])
        if not isinstance(raw, dict):
            raise ValueError(f"expected a JSON object, got {type(raw).__name__}")
        config = ModelConfig.from_dict(raw)
        model = ColorUNet(config)
    except (KeyError, ValueError, TypeError) as exc:
        problem = "no model_config metadata" if isinstance(exc, KeyError) else str(exc)
        raise _fail(
            source,
            f"model config does not parse ({problem})",
            "re-export the weights with this filmcolor's save_weights",
        ) from None

    expected = {
        k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")
    }
    missing = sorted(expected.keys() - tensors.keys())
    unexpected = sorted(tensors.keys() - expected.keys())
    misshapen = sorted(
        f"{k} {tuple(tensors[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in tensors and tensors[k].shape != v.shape
    )
    problems = []
    for label, keys in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("wrong shape", misshapen),
    ):
        if keys:
            shown = ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")
            problems.append(f"{label} tensors {shown}")
    if problems:
        raise _fail(
            source,
            f"tensors do not fit the stored model config ({'; '.join(problems)})",
            "the file is corrupt or from another model; re-export it",
        )
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    model.load_state_dict(state, strict=False)
    model.eval()
    model.to(device)
    extra = {k: v for k, v in header.items() if k not in _RESERVED}
    return model, config, extra
