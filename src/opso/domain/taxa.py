"""Bird species names across naming systems: scientific, Xeno-canto and BirdNET.

Names are compared after :func:`name_key`: case, spaces, hyphens, underscores, apostrophes and
dots are ignored, so ``"Black-and-white Warbler"``, ``"blackandwhitewarbler"`` and
``"BLACK AND WHITE warbler"`` are the same name, as are ``"Mniotilta varia"`` and
``"mniotilta-varia"``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from opso.domain.errors import ParameterError, UnknownSpeciesError

NameSystem = Literal["scientific", "xc_common", "bn_common", "bn_code"]
_IGNORED = re.compile(r"[\s\-_'.]+")
_SYSTEM_WORDS: dict[str, str] = {
    "scientific": "scientific name",
    "xc_common": "Xeno-canto common name",
    "bn_common": "BirdNET common name",
    "bn_code": "BirdNET code",
}


def name_key(name: str) -> str:
    """Return the form names are compared in: lower case without spaces, hyphens and the like."""
    return _IGNORED.sub("", name).lower()


@dataclass(frozen=True, slots=True)
class SpeciesNames:
    """One row of the species table; names are as stored (lowercase, common names unspaced).

    Attributes
    ----------
    scientific
        Scientific name, lowercase-hyphenated (``"mniotilta-varia"``).
    xc_common
        Xeno-canto common name, lowercase without spaces (``"blackandwhitewarbler"``).
    bn_code
        BirdNET six-letter code, or None if BirdNET lacks the species.
    bn_common
        BirdNET common name, lowercase without spaces, or None.
    bn_mapping_in_xc_dataset
        The scientific name BirdNET's species maps to in the Xeno-canto data, or None.
    relationship
        How the Xeno-canto and BirdNET taxa relate when they differ, or None.
    """

    scientific: str
    xc_common: str
    bn_code: str | None = None
    bn_common: str | None = None
    bn_mapping_in_xc_dataset: str | None = None
    relationship: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, str | None]) -> SpeciesNames:
        """Build from a table row; empty cells become None.

        Raises
        ------
        ValueError
            If the row lacks a scientific or Xeno-canto common name.
        """

        def cell(key: str) -> str | None:
            value = row.get(key)
            value = value.strip() if isinstance(value, str) else None
            return value or None

        scientific, xc_common = cell("scientific"), cell("xc_common")
        if scientific is None or xc_common is None:
            raise ParameterError(f"species row needs 'scientific' and 'xc_common': {dict(row)!r}")
        return cls(
            scientific=scientific,
            xc_common=xc_common,
            bn_code=cell("bn_code"),
            bn_common=cell("bn_common"),
            bn_mapping_in_xc_dataset=cell("bn_mapping_in_xc_dataset"),
            relationship=cell("relationship"),
        )


class SpeciesTable:
    """Look species up by any of their names; unknown names raise with close suggestions.

    Parameters
    ----------
    rows
        The table's rows. Within one naming system a name must not repeat.

    Raises
    ------
    ValueError
        If a name repeats within one naming system.
    """

    def __init__(self, rows: Iterable[SpeciesNames]) -> None:
        self._rows: tuple[SpeciesNames, ...] = tuple(rows)
        self._index: dict[NameSystem, dict[str, SpeciesNames]] = {
            "scientific": {},
            "xc_common": {},
            "bn_common": {},
            "bn_code": {},
        }
        for row in self._rows:
            for system, index in self._index.items():
                name = getattr(row, system)
                if name is None:
                    continue
                key = name_key(name)
                if key in index and index[key] is not row:
                    raise ParameterError(f"{_SYSTEM_WORDS[system]} {name!r} appears twice")
                index[key] = row

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def rows(self) -> tuple[SpeciesNames, ...]:
        """All rows, in table order."""
        return self._rows

    def species_list(self) -> list[str]:
        """Return the sorted scientific names (Xeno-canto) of the species BirdNET also knows."""
        return sorted(
            {
                r.bn_mapping_in_xc_dataset
                for r in self._rows
                if r.bn_code is not None and r.bn_mapping_in_xc_dataset is not None
            }
        )

    def find(self, name: str, systems: Iterable[NameSystem]) -> SpeciesNames:
        """Return the row with ``name`` in the first of ``systems`` that has it.

        Raises
        ------
        UnknownSpeciesError
            A ``KeyError`` naming ``name`` and suggesting up to five close matches.
        """
        wanted = list(systems)
        key = name_key(name)
        for system in wanted:
            row = self._index[system].get(key)
            if row is not None:
                return row
        raise UnknownSpeciesError(self._unknown(name, wanted))

    def lookup(self, name: str) -> SpeciesNames:
        """Return the species with ``name`` in any naming system (scientific first)."""
        return self.find(name, ("scientific", "xc_common", "bn_common", "bn_code"))

    def _unknown(self, name: str, systems: list[NameSystem]) -> str:
        what = " or ".join(_SYSTEM_WORDS[s] for s in systems)
        display: dict[str, str] = {}
        for system in systems:
            for key, row in self._index[system].items():
                display.setdefault(key, str(getattr(row, system)))
        close = difflib.get_close_matches(name_key(name), list(display), n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(display[k] for k in close)}?" if close else ""
        return f"{name!r} is not a {what} in the species table{hint}"

    def _name(self, row: SpeciesNames, system: NameSystem) -> str:
        value = getattr(row, system)
        if value is None:
            raise UnknownSpeciesError(
                f"{row.scientific!r} has no {_SYSTEM_WORDS[system]} in the species table"
            )
        return str(value)

    def sci_to_bn_common(self, scientific: str) -> str:
        """Convert a scientific name to its BirdNET common name."""
        return self._name(self.find(scientific, ("scientific",)), "bn_common")

    def sci_to_xc_common(self, scientific: str) -> str:
        """Convert a scientific name to its Xeno-canto common name."""
        return self._name(self.find(scientific, ("scientific",)), "xc_common")

    def xc_common_to_sci(self, common: str) -> str:
        """Convert a Xeno-canto common name to the scientific name."""
        return self.find(common, ("xc_common",)).scientific

    def bn_common_to_sci(self, common: str) -> str:
        """Convert a BirdNET common name to the scientific name."""
        return self.find(common, ("bn_common",)).scientific
