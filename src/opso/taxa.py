"""The spec's ``taxa`` module: convert bird names between scientific, Xeno-canto and BirdNET.

Lookups use the species table shipped with opso (506 North American birds, from
OpenSoundscape, MIT) and ignore case, spaces and hyphens. An unknown name raises
:class:`~opso.domain.errors.UnknownSpeciesError`, a ``KeyError`` that suggests close matches.
"""

from __future__ import annotations

import csv
import functools

from opso.domain.taxa import SpeciesNames, SpeciesTable
from opso.resources import data_path

__all__ = [
    "bn_common_to_sci",
    "common_to_sci",
    "get_species_list",
    "sci_to_bn_common",
    "sci_to_xc_common",
    "species_table",
    "xc_common_to_sci",
]


@functools.cache
def species_table() -> SpeciesTable:
    """Return the bundled species table (read once)."""
    with data_path("species_table.csv").open(newline="", encoding="utf-8") as fh:
        return SpeciesTable(SpeciesNames.from_row(row) for row in csv.DictReader(fh))


def get_species_list() -> list[str]:
    """Return the scientific names (lowercase-hyphenated) of the species BirdNET knows, sorted.

    These are the Xeno-canto scientific names that BirdNET's species map to.
    """
    return species_table().species_list()


def sci_to_bn_common(scientific: str) -> str:
    """Convert a scientific name to the BirdNET common name (lowercase, no spaces).

    Raises
    ------
    KeyError
        If the name is unknown or the species has no BirdNET name.
    """
    return species_table().sci_to_bn_common(scientific)


def sci_to_xc_common(scientific: str) -> str:
    """Convert a scientific name to the Xeno-canto common name (lowercase, no spaces).

    Raises
    ------
    KeyError
        If the name is unknown (the message suggests close matches).
    """
    return species_table().sci_to_xc_common(scientific)


def xc_common_to_sci(common: str) -> str:
    """Convert a Xeno-canto common name to the scientific name (lowercase-hyphenated).

    Raises
    ------
    KeyError
        If the name is unknown (the message suggests close matches).
    """
    return species_table().xc_common_to_sci(common)


def bn_common_to_sci(common: str) -> str:
    """Convert a BirdNET common name to the scientific name (lowercase-hyphenated).

    Raises
    ------
    KeyError
        If the name is unknown (the message suggests close matches).
    """
    return species_table().bn_common_to_sci(common)


def common_to_sci(common: str) -> str:
    """Convert a BirdNET common name to the scientific name (as :func:`bn_common_to_sci`).

    Raises
    ------
    KeyError
        If the name is unknown (the message suggests close matches).
    """
    return bn_common_to_sci(common)
