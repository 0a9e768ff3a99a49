"""``filmcolor train``'s options are declared once, on the ``TrainConfig``/``LossConfig``
fields they set: help, option name, range and default come from there."""

from __future__ import annotations

import dataclasses

import click

from filmcolor.cli.train import train
from filmcolor.config import LossConfig, TrainConfig


def test_every_config_option_of_train_is_generated_from_its_field() -> None:
    params = {p.name: p for p in train.params if isinstance(p, click.Option)}
    declared = 0
    for owner in (TrainConfig, LossConfig):
        for f in dataclasses.fields(owner):
            setting = f.metadata.get("setting")
            if setting is None:
                continue
            declared += 1
            param = params[setting.name or f.name]
            assert param.help == setting.help
            if f.name != "frames":  # required: no default
                assert param.default == f.default or str(param.default) == str(f.default)
            bounds = f.metadata.get("bounds")
            if bounds is not None:  # the option's type carries the field's range
                assert (param.type.min, param.type.max) == (bounds.lo, bounds.hi), f.name
    run_only = {"resume", "overwrite", "quiet", "verbose"}
    assert declared == len(params) - len(run_only)
    assert run_only <= set(params)
