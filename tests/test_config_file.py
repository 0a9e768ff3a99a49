"""Restore settings: --look, --config FILE.toml and options, their precedence, their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TEST_RENDER, assert_one_line_error
from mediagen import make_image

from filmcolor.cli import main
from filmcolor.config import LOOKS, HueRange, PostConfig
from filmcolor.settings import parse_hue_range, read_settings_file


def run(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


@pytest.fixture()
def image(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    make_image(path, width=48, height=32)
    return path


def restore_settings(
    tmp_path: Path, image: Path, weights: Path, *args: str | Path, toml: str | None = None
) -> dict:
    """Restore ``image`` with ``args`` (and a settings file holding ``toml``); the report's
    settings."""
    out, report = tmp_path / "out.png", tmp_path / "report.json"
    argv: list[str | Path] = ["restore", image, "-o", out, "--report", report, "--overwrite"]
    argv += ["--weights", weights, "--device", "cpu", "-q", *args]
    if toml is not None:
        (tmp_path / "settings.toml").write_text(toml)
        argv += ["--config", tmp_path / "settings.toml"]
    code, err = run(*argv)
    assert code == 0, err
    return json.loads(report.read_text())["settings"]


@pytest.mark.slow
def test_precedence_default_look_file_command_line(
    tmp_path: Path, image: Path, const_weights: Path
) -> None:
    # Defaults: PostConfig's; render size from the command line.
    s = restore_settings(tmp_path, image, const_weights, "--render-size", str(TEST_RENDER))
    default = PostConfig()
    assert s["post"]["saturation"] == default.saturation
    assert s["post"]["chroma_limit"] == default.chroma_limit
    assert s["colorize"]["render_size"] == TEST_RENDER
    assert s["sources"]["look"] is None and s["sources"]["config"] is None

    # The look over the defaults.
    s = restore_settings(tmp_path, image, const_weights, "--look", "vivid")
    vivid = LOOKS["vivid"]
    assert (s["post"]["saturation"], s["post"]["vibrance"]) == (vivid.saturation, vivid.vibrance)
    assert s["post"]["chroma_limit"] == vivid.chroma_limit

    # The file over the look (the file names the look too); options left at their defaults
    # (--render-size, --temporal, --saturation) do not override the file.
    toml = (
        'look = "vivid"\nrender-size = 96\ntemporal = false\nkeyframe_interval = 3\n'
        'codec = "ffv1"\n\n[post]\nsaturation = 0.8\nwhite-balance = "gray-world"\n'
        'hue-range = ["270:90:0.7"]\n'
    )
    s = restore_settings(tmp_path, image, const_weights, toml=toml)
    assert s["post"]["saturation"] == 0.8
    assert s["post"]["vibrance"] == vivid.vibrance  # from the look
    assert s["post"]["chroma_limit"] == vivid.chroma_limit
    assert s["post"]["white_balance"] == "gray-world"
    assert s["post"]["hue_ranges"] == [
        {"center": 270.0, "width": 90.0, "saturation": 0.7, "shift": 0.0}
    ]
    assert s["colorize"]["render_size"] == 96
    assert s["temporal"]["enabled"] is False
    assert s["temporal"]["keyframe_interval"] == 3
    assert s["encode"]["codec"] == "ffv1"
    assert s["sources"]["look"] == "vivid"
    assert s["sources"]["config"] == str(tmp_path / "settings.toml")
    assert "saturation" in s["sources"]["from_config"]

    # The command line over the file: even a value equal to the default, and a look given
    # on the command line replaces the file's look (the file's own values still win over it).
    args = ["--saturation", "1.0", "--temporal", "--look", "faded", "--hue-range", "180:80:0.5"]
    s = restore_settings(tmp_path, image, const_weights, *args, toml=toml)
    faded = LOOKS["faded"]
    assert s["post"]["saturation"] == 1.0
    assert s["post"]["temperature"] == faded.temperature
    assert s["post"]["chroma_limit"] == faded.chroma_limit
    assert s["post"]["vibrance"] == faded.vibrance
    assert s["post"]["white_balance"] == "gray-world"  # the file's
    assert [r["center"] for r in s["post"]["hue_ranges"]] == [180.0]
    assert s["temporal"]["enabled"] is True
    assert s["colorize"]["render_size"] == 96
    assert s["sources"]["look"] == "faded"
    assert {"saturation", "temporal", "look", "hue_range"} <= set(s["sources"]["from_command_line"])


def test_hue_range_option_and_file_forms(tmp_path: Path, image: Path, const_weights: Path) -> None:
    args = ["--hue-range", "270:90:0.7", "--hue-range", "180:80:0.85:-12"]
    s = restore_settings(tmp_path, image, const_weights, *args)
    assert s["post"]["hue_ranges"] == [
        {"center": 270.0, "width": 90.0, "saturation": 0.7, "shift": 0.0},
        {"center": 180.0, "width": 80.0, "saturation": 0.85, "shift": -12.0},
    ]
    toml = "[[post.hue_ranges]]\ncenter = 270\nwidth = 90\nsaturation = 0.7\n"
    s = restore_settings(tmp_path, image, const_weights, toml=toml)
    assert s["post"]["hue_ranges"] == [
        {"center": 270.0, "width": 90.0, "saturation": 0.7, "shift": 0.0}
    ]


def test_parse_hue_range() -> None:
    assert parse_hue_range("270:90:0.7") == HueRange(270.0, 90.0, 0.7, 0.0)
    assert parse_hue_range("-90:60:1:15") == HueRange(270.0, 60.0, 1.0, 15.0)
    for bad in ("270", "270:90", "a:b:c", "1:2:3:4:5", "270:0:1", "270:400:1", "270:90:-1"):
        with pytest.raises(ValueError, match=r"270|CENTER|width|saturation"):
            parse_hue_range(bad)


@pytest.mark.parametrize("value", ["1:2", "a:b:c", "270:0:0.5", "270:90:-1"])
def test_bad_hue_range_option_is_a_usage_error(image: Path, tmp_path: Path, value: str) -> None:
    code, err = run("restore", image, "-o", tmp_path / "o.png", "--hue-range", value)
    assert code == 2
    assert "--hue-range" in err
    assert not (tmp_path / "o.png").exists()


def test_unknown_key_is_a_one_line_usage_error(tmp_path: Path, image: Path) -> None:
    for toml, key in (("saturaton = 2\n", "saturaton"), ("[post]\nbrightness = 1\n", "brightness")):
        path = tmp_path / "settings.toml"
        path.write_text(toml)
        code, err = run("restore", image, "-o", tmp_path / "o.png", "--config", path)
        assert code == 2
        assert_one_line_error(err, "settings.toml", f"'{key}'", "unknown key")
    assert (
        "did you mean 'saturation'"
        in run(
            "restore", image, "-o", tmp_path / "o.png", "--config", _write(tmp_path, "saturaton=2")
        )[1]
    )
    assert not (tmp_path / "o.png").exists()


def _write(tmp_path: Path, text: str, name: str = "settings.toml") -> Path:
    path = tmp_path / name
    path.write_text(text + "\n")
    return path


def test_malformed_toml_gives_line_and_column(tmp_path: Path, image: Path) -> None:
    path = _write(tmp_path, 'look = "vivid"\nsaturation = = 2')
    code, err = run("restore", image, "-o", tmp_path / "o.png", "--config", path)
    assert code == 2
    assert_one_line_error(err, "settings.toml", "invalid TOML", "line 2", "column")


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ('saturation = "high"', ["'saturation'", "number"]),
        ("crf = 99", ["'crf'", "99"]),
        ("render-size = 1.5", ["'render-size'", "integer"]),
        ('look = "grim"', ["'look'", "grim"]),
        ("temporal = 1", ["'temporal'", "true or false"]),
        ("overwrite = true", ["'overwrite'", "command line"]),
        ("saturation = 1\n[post]\nsaturation = 2", ["saturation", "already set"]),
        ("[[post.hue_ranges]]\nwidth = 90", ["center"]),
        ('hue-range = ["270:90"]', ["CENTER:WIDTH:SAT"]),
    ],
)
def test_bad_values_in_file_are_one_line_usage_errors(
    tmp_path: Path, image: Path, toml: str, words: list[str]
) -> None:
    path = _write(tmp_path, toml)
    code, err = run("restore", image, "-o", tmp_path / "o.png", "--config", path)
    assert code == 2, err
    assert_one_line_error(err, "settings.toml", *words)


def test_missing_config_file(tmp_path: Path, image: Path) -> None:
    code, err = run("restore", image, "-o", tmp_path / "o.png", "--config", tmp_path / "no.toml")
    assert code == 2
    assert_one_line_error(err, "no.toml", "no such file")


def test_file_keys_dashes_underscores_and_weights_relative_to_file(tmp_path: Path) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    path = _write(
        folder,
        'weights = "w.safetensors"\nbatch-size = 2\npix_fmt = "yuv444p"\n[post]\nhue_shift = 10',
    )
    values = read_settings_file(path, {"weights", "batch_size", "pix_fmt", "hue_shift"})
    assert values == {
        "weights": str((folder / "w.safetensors").absolute()),
        "batch_size": 2,
        "pix_fmt": "yuv444p",
        "hue_shift": 10,
    }


def test_help_says_tone_options_are_off_by_default() -> None:
    result = CliRunner().invoke(main, ["restore", "--help"], terminal_width=200)
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    tone = ("--contrast", "--gamma", "--clahe", "--sharpen", "--deflicker", "--denoise", "--ivtc")
    for option in tone:
        after = text.split(option, 1)[1][:120]
        assert "changes the luma, off by default" in after, option
    deinterlace = text.split("--deinterlace", 1)[1][:400]
    assert "frame count and pts kept" in deinterlace
    assert "bwdif-field" in deinterlace and "CHANGES the frame count" in deinterlace
    for look in LOOKS:
        assert look in text.split("--look [", 1)[1][:80]


def test_settings_template_lists_every_file_key_at_its_default(tmp_path: Path) -> None:
    """The commented template is generated from the config fields: uncommented, it is a
    valid settings file that gives the default config, and every option that a file may
    set appears in it."""
    from filmcolor.config import RestoreConfig
    from filmcolor.settings import (
        RESTORE_SETTINGS,
        SETTING_KEYS,
        build_restore_config,
        settings_template,
    )

    text = settings_template()
    lines = [ln[2:] for ln in text.splitlines() if ln.startswith("# ") and " = " in ln]
    path = tmp_path / "all.toml"
    path.write_text("\n".join(ln for ln in lines if "(not set)" not in ln) + "\n")
    values = read_settings_file(path, SETTING_KEYS - {"overwrite"}, {"overwrite"})
    assert build_restore_config(values) == RestoreConfig()
    keys = {ln.split(" = ")[0].replace("-", "_") for ln in lines}
    assert keys == {"look", *RESTORE_SETTINGS} - {"overwrite"}
    restore_help = CliRunner().invoke(main, ["restore", "--help"], terminal_width=200).output
    for key in keys:
        assert f"--{key.replace('_', '-')}" in restore_help
