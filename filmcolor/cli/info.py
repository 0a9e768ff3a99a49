"""``filmcolor info``: what filmcolor sees in a file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..config import LimitsConfig
from ..errors import SettingValueError
from .common import EXIT_CODES_HELP, errors_to_exit_codes, option_error
from .options import max_pixels_option


@click.command(epilog=EXIT_CODES_HELP)
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@max_pixels_option
def info(file: Path, as_json: bool, max_pixels: int) -> None:
    """Show what filmcolor sees in FILE: streams, codecs, rate, frames, bit depth, colour tags.

    FILE may be an image sequence's pattern ('scans/reel_%06d.dpx').
    """
    from ..media.probe import probe
    from ..media.sequence import find_sequence, is_pattern

    with errors_to_exit_codes(False):
        try:
            limits = LimitsConfig(max_pixels=max_pixels)
        except SettingValueError as exc:
            raise option_error(exc, info, "max_pixels") from None
        if is_pattern(file) and not file.exists():
            seq = find_sequence(file, max_pixels=limits.max_pixels)
            media = probe(seq, limits.max_pixels).to_dict()
            media["frame_count"] = seq.count
            media["sequence"] = {
                "start": seq.start,
                "rate": str(seq.rate),
                "rate_from": seq.rate_source,
                "timecode": seq.timecode,
            }
        else:
            media = probe(file, limits.max_pixels).to_dict()
        if as_json:
            click.echo(json.dumps(media, indent=2))
            return
        for key, value in media.items():
            if key == "streams":
                continue
            click.echo(f"{key:17} {value}")
        click.echo("streams:")
        for s in media["streams"]:
            lang = f" [{s['language']}]" if s["language"] else ""
            disp = f" ({', '.join(s['disposition'])})" if s["disposition"] else ""
            click.echo(f"  #{s['index']} {s['type']:9} {s['codec']}{lang}{disp}")
