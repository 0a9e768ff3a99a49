"""Numbers are checked once, by the config dataclasses: NaN, infinities and out-of-range
values are one-line usage errors (exit 2) naming the option or the settings file's key, for
every command, before any input, weights or model is touched."""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import assert_one_line_error

from filmcolor.cli import main
from filmcolor.config import (
    ENCODER_PRESETS,
    EncodeConfig,
    HueRange,
    PostConfig,
    SegmentConfig,
    TrainConfig,
    bounds_of,
)
from filmcolor.daemon import WatchOptions
from filmcolor.errors import SettingValueError, UsageError
from filmcolor.settings import SETTING_KEYS, read_settings_file

COMMANDS = ("restore", "batch", "preview", "watch", "train")
#: Numeric options that set no config field (checked by click alone).
UNBOUND = {("preview", "--tile-width")}


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


def command_args(command: str, tmp_path: Path) -> list[str | Path]:
    """The least each command needs to get as far as its settings. Nothing named here
    exists, and the weights are missing: a value error must come first (exit 2, not 3 or 5)."""
    missing = tmp_path / "missing"
    weights = ["--weights", tmp_path / "no.safetensors"]
    return {
        "restore": ["restore", missing / "in.png", "-o", tmp_path / "o.png", *weights],
        "batch": ["batch", missing, "-o", tmp_path / "out", "--cluster", "local", *weights],
        "preview": ["preview", missing / "in.png", *weights],
        "watch": ["watch", missing, "-o", tmp_path / "out", *weights],
        "train": ["train", "--frames", missing, "-o", tmp_path / "t.safetensors"],
    }[command]


def numeric_options(kind: type[click.ParamType]) -> list[tuple[str, str]]:
    commands = main.commands  # type: ignore[attr-defined]
    return [
        (name, max(p.opts, key=len))
        for name in COMMANDS
        for p in commands[name].params
        if isinstance(p, click.Option) and isinstance(p.type, kind)
    ]


FLOAT_OPTIONS = numeric_options(click.types.FloatParamType)


def test_the_option_lists_are_complete() -> None:
    flags = {flag for _, flag in FLOAT_OPTIONS}
    for flag in ("--saturation", "--gamma", "--denoise", "--segment-seconds", "--settle", "--lr"):
        assert flag in flags
    assert len(FLOAT_OPTIONS) > 50


@pytest.mark.parametrize(("command", "flag"), FLOAT_OPTIONS)
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_float_option_is_a_one_line_usage_error(
    tmp_path: Path, command: str, flag: str, value: str
) -> None:
    code, err = run(*command_args(command, tmp_path), f"{flag}={value}")
    assert code == 2, err
    assert_one_line_error(err, f"{flag} {value}", "must be")


@pytest.mark.parametrize(
    ("command", "args", "words"),
    [
        ("restore", ["--render-size", "4000"], ["--render-size 4000", "64 to 2048"]),
        ("restore", ["--batch-size", "0"], ["--batch-size 0", "1 to 1024"]),
        ("restore", ["--crf", "99"], ["--crf 99", "0 to 51"]),
        ("restore", ["--keyframe-interval=-1"], ["--keyframe-interval -1"]),
        ("restore", ["--segment-seconds", "0.1"], ["--segment-seconds 0.1", "0.5 to 86400"]),
        ("restore", ["--segment-seconds", "1e9"], ["--segment-seconds", "86400"]),
        ("restore", ["--sharpen-radius", "1e9"], ["--sharpen-radius", "at most 100"]),
        ("restore", ["--vibrance", "2"], ["--vibrance 2.0", "-1 to 1"]),
        ("preview", ["--clahe-tiles", "0"], ["--clahe-tiles 0"]),
        ("batch", ["--deflicker", "5000"], ["--deflicker 5000"]),
        ("watch", ["--retries", "1000"], ["--retries 1000", "0 to 100"]),
        ("watch", ["--workers", "0"], ["--workers 0"]),
        ("watch", ["--poll", "0.01"], ["--poll 0.01", "0.05"]),
        ("train", ["--size", "100"], ["--size 100", "multiple of 32"]),
        ("train", ["--seed=-1"], ["--seed -1"]),
        ("train", ["--lr", "2"], ["--lr 2.0", "0 to 1"]),
        ("train", ["--batch-size", "5000"], ["--batch-size 5000"]),
        ("train", ["--val-fraction", "0.95"], ["--val-fraction 0.95"]),
    ],
)
def test_out_of_range_option_is_a_one_line_usage_error(
    tmp_path: Path, command: str, args: list[str], words: list[str]
) -> None:
    code, err = run(*command_args(command, tmp_path), *args)
    assert code == 2, err
    assert_one_line_error(err, *words)


def test_every_numeric_option_takes_its_range_from_a_config_field() -> None:
    from filmcolor.cli.common import BoundedFloat, BoundedInt

    numeric = numeric_options(click.types.FloatParamType)
    numeric += numeric_options(click.types.IntParamType)
    for command, flag in numeric:
        param = next(p for p in main.commands[command].params if flag in p.opts)  # type: ignore[attr-defined]
        if (command, flag) not in UNBOUND:
            assert isinstance(param.type, BoundedFloat | BoundedInt), (command, flag)


def test_watch_settle_nan_and_denoise_nan_are_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    code, err = run("watch", tmp_path / "in", "-o", tmp_path / "out", "--settle", "nan")
    assert code == 2
    assert_one_line_error(err, "--settle nan")
    assert not (tmp_path / "out").exists()  # refused before the daemon made anything
    code, err = run(*command_args("restore", tmp_path), "--denoise", "nan")
    assert code == 2
    assert_one_line_error(err, "--denoise nan")


# --------------------------------------------------------------------------- settings file

FILE_FLOATS = sorted(
    flag[2:]
    for command, flag in FLOAT_OPTIONS
    if command == "restore" and flag[2:].replace("-", "_") in SETTING_KEYS
)
POST_FLOATS = [
    key
    for key in FILE_FLOATS
    if key.replace("-", "_") in {f.name for f in dataclasses.fields(PostConfig)}
]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("key", FILE_FLOATS)
def test_non_finite_value_in_settings_file_names_the_key(
    tmp_path: Path, key: str, value: str
) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(f"{key} = {value}\n")
    code, err = run(*command_args("restore", tmp_path), "--config", config)
    assert code == 2, err
    assert_one_line_error(err, "settings.toml", f"'{key}' = {value}", "fix the file")


@pytest.mark.parametrize("key", POST_FLOATS)
def test_value_in_post_table_is_named_with_its_table(tmp_path: Path, key: str) -> None:
    config = tmp_path / "settings.toml"
    config.write_text(f"[post]\n{key} = nan\n")
    code, err = run(*command_args("preview", tmp_path), "--config", config)
    assert code == 2, err
    assert_one_line_error(err, "settings.toml", f"'post.{key}' = nan")


def test_option_on_the_command_line_is_named_over_the_file(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("saturation = 2\ncrf = 99\n")
    code, err = run(*command_args("restore", tmp_path), "--config", config, "--crf", "20")
    assert code != 2 and "crf" not in err, err  # the file's crf is overridden
    code, err = run(*command_args("restore", tmp_path), "--config", config, "--crf", "60")
    assert code == 2
    assert_one_line_error(err, "--crf 60")


def test_bad_number_in_a_hue_band_table(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_text("[[post.hue_ranges]]\ncenter = 270\nshift = 400\n")
    code, err = run(*command_args("restore", tmp_path), "--config", config)
    assert code == 2
    assert_one_line_error(err, "settings.toml", "shift 400.0", "-360 to 360")


def test_settings_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    config = tmp_path / "settings.toml"
    config.write_bytes(b"\xef\xbb\xbfrender-size = 96\n[post]\nsaturation = 1.5\n")
    values = read_settings_file(config, {"render_size"})
    assert values == {"render_size": 96, "saturation": 1.5}
    # and through the command line: the file is read (its value is what is refused)
    config.write_bytes(b"\xef\xbb\xbfgamma = 0\n")
    code, err = run(*command_args("restore", tmp_path), "--config", config)
    assert code == 2
    assert_one_line_error(err, "settings.toml", "'gamma' = 0")


# --------------------------------------------------------------------------- --preset


def test_bad_preset_is_a_usage_error_naming_the_presets(tmp_path: Path) -> None:
    code, err = run(*command_args("restore", tmp_path), "--preset", "bogus")
    assert code == 2, err
    assert_one_line_error(err, "--preset 'bogus'", "libx264", *ENCODER_PRESETS["libx264"])
    code, err = run(*command_args("restore", tmp_path), "--codec", "libx265", "--preset", "fastest")
    assert code == 2
    assert_one_line_error(err, "--preset 'fastest'", "libx265", "veryslow")
    code, err = run(*command_args("restore", tmp_path), "--codec", "ffv1", "--preset", "slow")
    assert code == 2
    assert_one_line_error(err, "--preset 'slow'", "ffv1", "only libx264 and libx265")
    config = tmp_path / "settings.toml"
    config.write_text('codec = "libx265"\npreset = "bogus"\n')
    code, err = run(*command_args("watch", tmp_path), "--config", config)
    assert code == 2
    assert_one_line_error(err, "settings.toml", "'preset' = 'bogus'", "libx265")


def test_bad_preset_with_a_real_film_writes_nothing(tmp_path: Path, const_weights: Path) -> None:
    from mediagen import make_video

    src = tmp_path / "film.mp4"
    make_video(src, frames=4)
    out = tmp_path / "out.mp4"
    code, err = run("restore", src, "-o", out, "--weights", const_weights, "--preset", "bogus")
    assert code == 2, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["film.mp4"]


# --------------------------------------------------------------------------- the library


def test_configs_refuse_bad_numbers_as_usage_and_value_errors() -> None:
    for make in (
        lambda: PostConfig(saturation=math.nan),
        lambda: dataclasses.replace(PostConfig(), gamma=math.inf),
        lambda: SegmentConfig(segment_seconds=-math.inf),
        lambda: EncodeConfig(crf=52),
        lambda: EncodeConfig(preset="bogus"),
        lambda: HueRange(center=math.nan),
        lambda: TrainConfig(batch_size=True),  # a bool is not a number
        lambda: TrainConfig(steps=2.5),  # type: ignore[arg-type]
        lambda: WatchOptions(Path("in"), Path("out"), settle=math.nan),
    ):
        with pytest.raises(SettingValueError) as info:
            make()
        assert isinstance(info.value, UsageError) and isinstance(info.value, ValueError)
        assert info.value.exit_code == 2
        again = pickle.loads(pickle.dumps(info.value))  # crosses process boundaries intact
        assert str(again) == str(info.value) and again.name == info.value.name
    assert SegmentConfig(segment_seconds=0).segment_seconds == 0  # 0: never segment
    assert EncodeConfig(codec="libx265", preset="veryslow").preset == "veryslow"
    assert TrainConfig(epochs=None).epochs is None


def test_bounds_describe_themselves() -> None:
    assert bounds_of(PostConfig, "saturation").describe() == "a finite number, at least 0"
    assert bounds_of(PostConfig, "vibrance").describe() == "a finite number from -1 to 1"
    assert bounds_of(SegmentConfig, "segment_seconds").describe() == (
        "0, or a finite number from 0.5 to 86400"
    )
    assert bounds_of(TrainConfig, "size").describe() == (
        "a whole number from 64 to 2048, a multiple of 32"
    )
