"""The ``opso`` command line: parse options, run a use-case from the container, print results.

Each topic's commands live in ``opso.commands.<topic>``; this module only assembles the group.
"""

from __future__ import annotations

import click

from opso.commands import audio, runs
from opso.commands.base import OpsoGroup


@click.group(cls=OpsoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opso", prog_name="opso")
def main() -> None:
    """opso: bioacoustics from field recordings to detections and locations."""


main.add_command(audio.info)
main.add_command(audio.split)
main.add_command(audio.demo)
main.add_command(runs.runs)
