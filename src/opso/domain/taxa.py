"""Bird species names across naming systems: scientific, Xeno-canto, BirdNET and Alpha codes.

Names are compared after :func:`name_key`: case, spaces, hyphens, underscores, apostrophes and
dots are ignored, so ``"Black-and-white Warbler"``, ``"blackandwhitewarbler"`` and
``"BLACK AND WHITE warbler"`` are the same name, as are ``"Mniotilta varia"`` and
``"mniotilta-varia"``.

:class:`SpeciesTable` holds OpenSoundscape's North American table; :class:`Taxonomy` adds
BirdNET's global label list (``Scientific name_Common name``) as a second source and the
four-letter Alpha codes (banding codes) derived from its spaced common names by
:func:`alpha_code`.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
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


def _close(name: str, display: Mapping[str, str]) -> list[str]:
    close = difflib.get_close_matches(name_key(name), list(display), n=5, cutoff=0.6)
    return [display[k] for k in close]


def _hint(close: list[str]) -> str:
    return f"; did you mean {', '.join(close)}?" if close else ""


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
        row = self.get(name, wanted)
        if row is None:
            raise UnknownSpeciesError(self._unknown(name, wanted))
        return row

    def get(self, name: str, systems: Iterable[NameSystem]) -> SpeciesNames | None:
        """Return the row with ``name`` in the first of ``systems`` that has it, or None."""
        key = name_key(name)
        for system in systems:
            row = self._index[system].get(key)
            if row is not None:
                return row
        return None

    def lookup(self, name: str) -> SpeciesNames:
        """Return the species with ``name`` in any naming system (scientific first)."""
        return self.find(name, ("scientific", "xc_common", "bn_common", "bn_code"))

    def suggestions(self, name: str, systems: Iterable[NameSystem]) -> list[str]:
        """Return up to five names in ``systems`` close to ``name``, closest first."""
        display: dict[str, str] = {}
        for system in systems:
            for key, row in self._index[system].items():
                display.setdefault(key, str(getattr(row, system)))
        return _close(name, display)

    def _unknown(self, name: str, systems: list[NameSystem]) -> str:
        what = " or ".join(_SYSTEM_WORDS[s] for s in systems)
        return (
            f"{name!r} is not a {what} in the species table{_hint(self.suggestions(name, systems))}"
        )

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


def alpha_code(common: str) -> str | None:
    """Return the four-letter Alpha code (banding code) the standard rules give an English name.

    Hyphens separate words and only letters count (``"Chuck-will's-widow"`` has the words
    Chuck, wills, widow). One word: its first four letters (Sora -> SORA); two words: two
    letters of each (Wood Thrush -> WOTH); three words: the first letter of the first two and
    two of the last (Black-capped Chickadee -> BCCH); four words or more: the first letter of
    the first three and of the last (Black-and-white Warbler -> BAWW). The official list
    changes some codes to resolve collisions (Black-throated Green Warbler is BTNW, not the
    derived BTGW); those exceptions are not known here.

    Returns
    -------
    str or None
        The upper-case code, or None when the name gives fewer than four letters.
    """
    plain = unicodedata.normalize("NFKD", common)
    words = [w for w in (re.sub(r"[^A-Za-z]", "", w) for w in re.split(r"[\s\-]+", plain)) if w]
    if len(words) == 1:
        code = words[0][:4]
    elif len(words) == 2:
        code = words[0][:2] + words[1][:2]
    elif len(words) == 3:
        code = words[0][0] + words[1][0] + words[2][:2]
    else:
        code = "".join(w[0] for w in words[:3] + words[-1:])
    return code.upper() if len(code) == 4 else None


@dataclass(frozen=True, slots=True)
class BirdNetSpecies:
    """One class of BirdNET's label list (``"Hylocichla mustelina_Wood Thrush"``).

    Attributes
    ----------
    scientific
        Scientific name as BirdNET writes it (``"Hylocichla mustelina"``).
    common
        English common name with its spaces and hyphens (``"Wood Thrush"``).
    """

    scientific: str
    common: str

    @property
    def is_species(self) -> bool:
        """False for BirdNET's non-bird classes such as ``"Engine_Engine"``."""
        return self.scientific != self.common

    @property
    def alpha_code(self) -> str | None:
        """The derived Alpha code of the common name (None for non-bird classes)."""
        return alpha_code(self.common) if self.is_species else None


def parse_birdnet_labels(lines: Iterable[str]) -> tuple[BirdNetSpecies, ...]:
    """Parse BirdNET label lines (``Scientific name_Common name``); blank lines are skipped.

    Raises
    ------
    ParameterError
        If a line has no ``_`` between the two names.
    """
    labels = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        scientific, sep, common = text.partition("_")
        if not sep or not scientific.strip() or not common.strip():
            raise ParameterError(f"label line {number}: expected 'Scientific_Common', got {text!r}")
        labels.append(BirdNetSpecies(scientific.strip(), common.strip()))
    return tuple(labels)


@dataclass(frozen=True, slots=True)
class Species:
    """A species found by :class:`Taxonomy`: its species-table row, its BirdNET label, or both."""

    row: SpeciesNames | None
    label: BirdNetSpecies | None

    @property
    def scientific(self) -> str:
        """Scientific name in the species table's form (``"hylocichla-mustelina"``)."""
        if self.row is not None:
            return self.row.scientific
        return "-".join(self._label().scientific.lower().split())

    @property
    def bn_common(self) -> str | None:
        """BirdNET common name in the species table's form (``"woodthrush"``), or None."""
        if self.row is not None and self.row.bn_common is not None:
            return self.row.bn_common
        return name_key(self.label.common) if self.label is not None else None

    @property
    def alpha_code(self) -> str | None:
        """Derived Alpha code (needs the BirdNET label: the table's names have no spaces)."""
        return self.label.alpha_code if self.label is not None else None

    def describe(self) -> str:
        """``"Wood Thrush (Hylocichla mustelina)"``, or the table's names without a label."""
        if self.row is not None and self.label is None:
            return f"{self.row.xc_common} ({self.row.scientific})"
        label = self._label()
        return f"{label.common} ({label.scientific})"

    def _label(self) -> BirdNetSpecies:
        if self.label is None:
            raise ParameterError("a species needs a species-table row or a BirdNET label")
        return self.label


class Taxonomy:
    """The species table, widened by BirdNET's label list and the Alpha codes of its names.

    A name is looked up in the species table first, then among BirdNET's scientific and
    common names, then as an Alpha code. A code several species share resolves to the one
    species of the (North American) species table among them; otherwise it is ambiguous and
    the error lists the candidates.

    Parameters
    ----------
    table
        The species table.
    labels
        BirdNET's label list; empty when it is not installed.
    missing_hint
        Added to "unknown species" messages when ``labels`` is empty (how to install it).
    """

    def __init__(
        self,
        table: SpeciesTable,
        labels: Iterable[BirdNetSpecies] = (),
        *,
        missing_hint: str = "",
    ) -> None:
        self.table = table
        self.labels: tuple[BirdNetSpecies, ...] = tuple(labels)
        self._missing_hint = missing_hint
        self._scientific: dict[str, BirdNetSpecies] = {}
        self._common: dict[str, BirdNetSpecies] = {}
        self._alpha: dict[str, list[BirdNetSpecies]] = {}
        self._row_label: dict[int, BirdNetSpecies] = {}
        for label in self.labels:
            self._scientific.setdefault(name_key(label.scientific), label)
            self._common.setdefault(name_key(label.common), label)
            code = label.alpha_code
            if code is not None:
                self._alpha.setdefault(code, []).append(label)
            row = table.get(label.scientific, ("scientific",)) or table.get(
                label.common, ("bn_common",)
            )
            if row is not None:
                self._row_label.setdefault(id(row), label)

    def _species(self, row: SpeciesNames | None, label: BirdNetSpecies | None) -> Species:
        if row is not None and label is None:
            label = self._row_label.get(id(row))
        if label is not None and row is None:
            row = self.table.get(label.scientific, ("scientific",)) or self.table.get(
                label.common, ("bn_common",)
            )
        return Species(row, label)

    def alpha_candidates(self, code: str) -> tuple[Species, ...]:
        """Return every species whose derived Alpha code is ``code`` (any case)."""
        return tuple(self._species(None, lb) for lb in self._alpha.get(code.strip().upper(), ()))

    def find(self, name: str, systems: Iterable[NameSystem]) -> Species:
        """Return the species with ``name`` in ``systems`` (common systems also take Alpha codes).

        Raises
        ------
        UnknownSpeciesError
            A ``KeyError`` naming ``name``: unknown (with close suggestions) or an Alpha code
            several species share (listing them).
        """
        wanted = list(systems)
        row = self.table.get(name, wanted)
        if row is not None:
            return self._species(row, None)
        key = name_key(name)
        common = any(s in ("xc_common", "bn_common") for s in wanted)
        label = self._scientific.get(key) if "scientific" in wanted else None
        if label is None and common:
            label = self._common.get(key)
        if label is not None:
            return self._species(None, label)
        if common and len(key) == 4 and key.isalpha():
            found = self._by_alpha(name)
            if found is not None:
                return found
        raise UnknownSpeciesError(self._unknown(name, wanted))

    def lookup(self, name: str) -> Species:
        """Return the species with ``name`` in any naming system or as an Alpha code."""
        return self.find(name, ("scientific", "xc_common", "bn_common", "bn_code"))

    def _by_alpha(self, code: str) -> Species | None:
        candidates = self.alpha_candidates(code)
        in_table = [sp for sp in candidates if sp.row is not None]
        if len(candidates) == 1:
            return candidates[0]
        if len(in_table) == 1:
            return in_table[0]
        if not candidates:
            return None
        shown = in_table or list(candidates)
        raise UnknownSpeciesError(
            f"{code!r} is the Alpha code of {len(shown)} species: "
            f"{', '.join(sp.describe() for sp in shown)}; give the common or scientific name "
            "(codes are derived from the names, without the official list's exceptions)"
        )

    def _unknown(self, name: str, systems: list[NameSystem]) -> str:
        what = " or ".join(_SYSTEM_WORDS[s] for s in systems)
        display = {name_key(n): n for n in self.table.suggestions(name, systems)}
        if not self.labels:
            hint = _hint(self.table.suggestions(name, systems))
            return f"{name!r} is not a {what} in the species table{hint}{self._missing_hint}"
        if "scientific" in systems:
            display.update(
                {k: v.scientific for k, v in self._scientific.items() if k not in display}
            )
        if any(s in ("xc_common", "bn_common") for s in systems):
            display.update({k: v.common for k, v in self._common.items() if k not in display})
        hint = _hint(_close(name, display))
        key = name_key(name)
        if (
            len(key) == 4
            and key.isalpha()
            and any(s in ("xc_common", "bn_common") for s in systems)
        ):
            hint += (
                " (Alpha codes are derived from the names: the official list's exceptions,"
                " such as BTNW, are not known)"
            )
        return f"{name!r} is not a {what} in the species table or BirdNET's species list{hint}"

    def sci_to_bn_common(self, scientific: str) -> str:
        """Convert a scientific name to its BirdNET common name (table form)."""
        species = self.find(scientific, ("scientific",))
        if species.bn_common is None:
            raise UnknownSpeciesError(
                f"{scientific!r} has no BirdNET common name in the species table"
            )
        return species.bn_common

    def sci_to_xc_common(self, scientific: str) -> str:
        """Convert a scientific name to its Xeno-canto common name (species table only)."""
        species = self.find(scientific, ("scientific",))
        if species.row is None:
            raise UnknownSpeciesError(
                f"{scientific!r} is not in the species table, so it has no Xeno-canto common name "
                f"(BirdNET calls it {species.describe()})"
            )
        return species.row.xc_common

    def xc_common_to_sci(self, common: str) -> str:
        """Convert a Xeno-canto common name (or a BirdNET one, or an Alpha code) to scientific."""
        return self.find(common, ("xc_common",)).scientific

    def bn_common_to_sci(self, common: str) -> str:
        """Convert a BirdNET common name (or an Alpha code) to the scientific name."""
        return self.find(common, ("bn_common",)).scientific
