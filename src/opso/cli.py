"""The ``opso`` command line: parse options, run a use-case from the container, print results.

Each topic's commands live in ``opso.commands.<topic>``; this module only assembles the group.
"""

from __future__ import annotations

import click

from opso.commands import (
    audio,
    cnn,
    completion,
    config,
    demo,
    pretrained,
    review,
    ribbit,
    runs,
    spectrogram,
    summarize,
    taxa,
)
from opso.commands.base import OpsoGroup, config_option
from opso.commands.labels import label, raven
from opso.commands.localization import localize


@click.group(cls=OpsoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="opso", prog_name="opso")
@config_option
def main() -> None:
    """opso: bioacoustics from field recordings to detections and locations."""


main.add_command(audio.info)
main.add_command(audio.split)
main.add_command(raven)
main.add_command(label)
main.add_command(localize)
main.add_command(config.config)
main.add_command(taxa.taxa)
main.add_command(completion.completion)
main.add_command(ribbit.ribbit)
main.add_command(spectrogram.spectrogram)
main.add_command(review.review)
main.add_command(cnn.train)
main.add_command(cnn.predict)
main.add_command(pretrained.embed)
main.add_command(runs.runs)
main.add_command(demo.demo)
main.add_command(summarize.summarize)
