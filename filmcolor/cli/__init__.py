"""The ``filmcolor`` command: parse options, call the library, show progress, map errors.

One module per command; ``common`` holds what they share (errors → exit codes, progress,
logging), ``options`` the restore settings as options, generated from the config fields
that declare them. This package is the only one that imports click or rich.
"""

from __future__ import annotations

import click

from .. import __version__
from . import batch, eval, info, keyframes, preview, restore, serve, train, watch
from .common import stop_cleanly_on_sigterm


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="filmcolor")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Restore and colorize black-and-white films and photographs."""
    stop_cleanly_on_sigterm(ctx.invoked_subcommand)


for command in (
    restore.restore,
    batch.batch,
    preview.preview,
    keyframes.keyframes,
    info.info,
    eval.evaluate,
    train.train,
    watch.watch,
    watch.jobs_command,
    serve.serve,
):
    main.add_command(command)

__all__ = ["main"]
