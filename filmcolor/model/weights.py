"""The shipped weights format: one safetensors file holding the tensors and the model config.

No pickle is involved: the tensors are safetensors, the metadata is strings. The metadata
holds ``format`` (``"filmcolor-weights"``), ``format_version`` (``"1"``), ``model_config``
(the JSON of ``ModelConfig.to_dict()``) and any caller-given string pairs (training run,
data, date ...).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
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
    "MAX_HEADER_BYTES",
    "default_weights_path",
    "expected_shapes",
    "load_weights",
    "non_finite",
    "save_weights",
    "shape_problems",
]

DEFAULT_WEIGHTS_NAME = "filmcolor-default.safetensors"
FORMAT_NAME = "filmcolor-weights"
FORMAT_VERSION = "1"
_RESERVED = frozenset({"format", "format_version", "model_config"})
#: The largest header (tensor list and metadata, JSON) a weights file may have; the shipped
#: file's is 32 KB. Larger is refused before it is read.
MAX_HEADER_BYTES = 16 * 2**20
#: Bytes per value of the dtypes a weights file may store (all its tensors are floating).
_FLOAT_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8}


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


def _listed(items: list[str]) -> str:
    return ", ".join(items[:5]) + (f" (+{len(items) - 5} more)" if len(items) > 5 else "")


def expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name → shape of every entry in the state dict of a :class:`ColorUNet` of ``config``
    (``num_batches_tracked`` counters included), found without allocating a tensor: the model
    is built on the ``meta`` device. ``ValueError`` if ``config`` does not make a model."""
    with torch.device("meta"):
        model = ColorUNet(config)
    return {name: tuple(t.shape) for name, t in model.state_dict().items()}


def shape_problems(
    expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]]
) -> list[str]:
    """How ``found`` (name → shape) differs from ``expected``: missing, unexpected and
    misshapen tensors, each kind as one short phrase; empty when they agree."""
    missing = sorted(expected.keys() - found.keys())
    unexpected = sorted(found.keys() - expected.keys())
    misshapen = sorted(
        f"{k} {tuple(found[k])} != {tuple(v)}"
        for k, v in expected.items()
        if k in found and tuple(found[k]) != tuple(v)
    )
    return [
        f"{label} tensors {_listed(keys)}"
        for label, keys in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("wrong shape", misshapen),
        )
        if keys
    ]


def non_finite(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """Names of the floating tensors in ``tensors`` holding a NaN or an infinity, sorted."""
    return sorted(
        name
        for name, t in tensors.items()
        if t.is_floating_point() and not bool(torch.isfinite(t).all())
    )


def _header_size(source: Path) -> tuple[int, int]:
    """``(file size, header size)`` of a safetensors file, refusing a header that is absurd
    (over :data:`MAX_HEADER_BYTES`) or longer than the file, before anything is parsed."""
    size = source.stat().st_size
    with open(source, "rb") as fh:
        head = fh.read(8)
    unreadable = "not a readable safetensors file"
    todo = "re-download or re-export it"
    if len(head) < 8:
        raise _fail(source, f"{unreadable} (only {size} bytes)", todo)
    header = int.from_bytes(head, "little")
    if header > MAX_HEADER_BYTES:
        raise _fail(
            source,
            f"{unreadable} (its header claims {header} bytes, over the limit of "
            f"{MAX_HEADER_BYTES // 2**20} MiB)",
            todo,
        )
    if 8 + header > size:
        raise _fail(
            source,
            f"{unreadable} (its header claims {header} bytes, the file has {size}: truncated)",
            todo,
        )
    return size, header


def load_weights(
    path: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[ColorUNet, ModelConfig, dict[str, str]]:
    """Read a weights file written by :func:`save_weights`.

    Returns ``(model, config, metadata)``: the :class:`ColorUNet` rebuilt from the stored
    config, its tensors loaded as float32, in eval mode, on ``device``; the config; and the
    caller-given metadata (the file's metadata without the reserved format keys).

    Nothing is allocated before the file is known to fit: the header's size is checked
    against the file's, the stored config against the ``ModelConfig`` bounds, and the names,
    shapes and dtypes the header lists against the model that config makes (built on the
    ``meta`` device), so memory use is bounded by the file's size. Every problem raises
    :class:`WeightsError` with a one-line message naming the file: missing, not safetensors,
    wrong or missing format metadata, unparsable or out-of-bounds config, tensors that do not
    fit the model (missing, unexpected, wrong shape or dtype), tensors holding NaN or inf.
    """
    source = Path(path)
    if not source.is_file():
        what = "is a directory" if source.is_dir() else "not found"
        if source.exists() and not source.is_dir():
            what = "not a regular file"
        raise _fail(source, what, "pass --weights with an existing .safetensors file")
    size, header_bytes = _header_size(source)
    try:
        with safe_open(str(source), framework="pt", device="cpu") as fh:
            header = fh.metadata() or {}
            listed = {name: fh.get_slice(name) for name in fh.keys()}
            found = {name: tuple(s.get_shape()) for name, s in listed.items()}
            dtypes = {name: s.get_dtype() for name, s in listed.items()}
    except Exception as exc:  # safetensors raises several types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail(
            source, f"not a readable safetensors file ({reason})", "re-download or re-export it"
        ) from None

    fmt = header.get("format")
    if fmt != FORMAT_NAME:
        raise _fail(
            source,
            f"metadata format is {fmt!r:.60}, expected {FORMAT_NAME!r}",
            "use a file written by filmcolor's save_weights",
        )
    version = header.get("format_version")
    if version != FORMAT_VERSION:
        raise _fail(
            source,
            f"format_version {version!r:.60} is not supported (this filmcolor reads "
            f"{FORMAT_VERSION!r})",
            "use weights made for this filmcolor version or upgrade filmcolor",
        )
    try:
        raw = json.loads(header["model_config"])
        if not isinstance(raw, dict):
            raise ValueError(f"expected a JSON object, got {type(raw).__name__}")
        config = ModelConfig.from_dict(raw)
        expected = {
            k: v
            for k, v in expected_shapes(config).items()
            if not k.endswith("num_batches_tracked")
        }
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        problem = "no model_config metadata" if isinstance(exc, KeyError) else str(exc)
        raise _fail(
            source,
            f"model config does not parse ({problem})",
            "re-export the weights with this filmcolor's save_weights",
        ) from None

    problems = shape_problems(expected, found)
    not_float = sorted(f"{k} {d}" for k, d in dtypes.items() if d not in _FLOAT_BYTES)
    if not_float:
        problems.append(f"tensors not floating point {_listed(not_float)}")
    if problems:
        raise _fail(
            source,
            f"tensors do not fit the stored model config ({'; '.join(problems)})",
            "the file is corrupt or from another model; re-export it",
        )
    data_bytes = sum(math.prod(found[k]) * _FLOAT_BYTES[dtypes[k]] for k in found)
    if 8 + header_bytes + data_bytes != size:
        raise _fail(
            source,
            f"its tensors take {data_bytes} bytes, the file holds {size - 8 - header_bytes}",
            "the file is corrupt; re-download or re-export it",
        )

    with safe_open(str(source), framework="pt", device="cpu") as fh:
        tensors = {name: fh.get_tensor(name) for name in expected}
    broken = non_finite(tensors)
    if broken:
        raise _fail(
            source,
            f"tensors hold NaN or infinite values ({_listed(broken)})",
            "the file is damaged or its training diverged; use another weights file",
        )
    model = ColorUNet(config)
    state = {k: v.float() for k, v in tensors.items()}
    model.load_state_dict(state, strict=False)  # strict but for the num_batches_tracked counters
    model.eval()
    model.to(device)
    extra = {k: v for k, v in header.items() if k not in _RESERVED}
    return model, config, extra
