"""Species-name conversions over the bundled species table, and ``opso taxa``."""

from __future__ import annotations

import csv
import hashlib

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

import opso
from opso.cli import main
from opso.domain.taxa import SpeciesNames, SpeciesTable, name_key
from opso.resources import data_path
from opso.taxa import species_table

#: sha256 of OpenSoundscape's ``species_table.csv`` (v0.13.2), the upstream file opso bundles.
UPSTREAM_SHA256 = "2f26394fa11559f7e0ef7ef2b4cde9df479d66bfd80808ace497819c85e91a83"


def test_bundled_table_is_the_upstream_file() -> None:
    bundled = data_path("species_table.csv")
    assert hashlib.sha256(bundled.read_bytes()).hexdigest() == UPSTREAM_SHA256
    with bundled.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(species_table()) == len(rows) == 506
    assert [r.scientific for r in species_table().rows] == [r["scientific"] for r in rows]


def test_conversions_known_values() -> None:
    assert opso.sci_to_bn_common("mniotilta-varia") == "blackandwhitewarbler"
    assert opso.sci_to_xc_common("setophaga-coronata") == "myrtlewarbler"
    assert opso.sci_to_bn_common("setophaga-coronata") == "yellowrumpedwarbler"
    assert opso.xc_common_to_sci("Black-and-white Warbler") == "mniotilta-varia"
    assert opso.bn_common_to_sci("BLUE JAY") == "cyanocitta-cristata"
    assert opso.common_to_sci("blue-jay") == "cyanocitta-cristata"
    assert opso.sci_to_xc_common("Mniotilta Varia") == "blackandwhitewarbler"


def test_species_list_is_sorted_scientific_names() -> None:
    names = opso.get_species_list()
    assert len(names) == 496
    assert names == sorted(names)
    assert "mniotilta-varia" in names
    assert all(n == n.lower() and " " not in n for n in names)


def test_unknown_name_is_a_key_error_with_suggestions() -> None:
    with pytest.raises(KeyError) as info:
        opso.bn_common_to_sci("black and white warbelr")
    message = str(info.value)
    assert "'black and white warbelr' is not a BirdNET common name" in message
    assert "did you mean blackandwhitewarbler" in message
    with pytest.raises(opso.UnknownSpeciesError, match="no BirdNET common name"):
        opso.sci_to_bn_common("anas-carolinensis")  # Xeno-canto only


def test_duplicate_names_are_rejected() -> None:
    row = SpeciesNames("a-b", "ab")
    with pytest.raises(ValueError, match="appears twice"):
        SpeciesTable([row, SpeciesNames("a b", "other")])


@settings(max_examples=40, deadline=None)
@given(index=st.integers(0, 505), data=st.data())
def test_round_trips_ignore_case_spaces_and_hyphens(index: int, data: st.DataObject) -> None:
    row = species_table().rows[index]
    noisy = "".join(
        data.draw(st.sampled_from([c, c.upper(), f"{c} ", f"-{c}"])) for c in row.xc_common
    )
    assert name_key(noisy) == name_key(row.xc_common)
    assert opso.xc_common_to_sci(noisy) == row.scientific
    assert opso.sci_to_xc_common(row.scientific.replace("-", " ").title()) == row.xc_common
    if row.bn_common is not None:
        assert opso.bn_common_to_sci(row.bn_common) == row.scientific


def test_opso_taxa_prints_every_name() -> None:
    result = CliRunner().invoke(main, ["taxa", "Black-and-white", "Warbler"])
    assert result.exit_code == 0, result.output
    assert "mniotilta-varia" in result.output and "bawwar" in result.output
    by_code = CliRunner().invoke(main, ["taxa", "bawwar"])
    assert by_code.output == result.output
    bad = CliRunner().invoke(main, ["taxa", "blue jya"])
    assert bad.exit_code == 1 and "did you mean bluejay" in bad.output
