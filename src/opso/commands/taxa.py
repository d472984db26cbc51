"""Species-name command: ``opso taxa NAME``."""

from __future__ import annotations

import click


@click.command()
@click.argument("name", nargs=-1, required=True)
def taxa(name: tuple[str, ...]) -> None:
    """Print every name of a bird species given any one of them.

    NAME may be a scientific name, a Xeno-canto or BirdNET common name, a BirdNET code or a
    four-letter Alpha (banding) code; case, spaces and hyphens are ignored
    (``opso taxa black and white warbler``, ``opso taxa WOTH``). With opso[birdnet] installed,
    BirdNET's 6,522 species are known too (``opso taxa great tit``); a code several species
    share lists them.
    """
    from opso.domain.errors import UnknownSpeciesError
    from opso.taxa import taxonomy

    query = " ".join(name)
    try:
        species = taxonomy().lookup(query)
    except UnknownSpeciesError as e:
        raise click.ClickException(str(e)) from e
    row, label = species.row, species.label
    fields = [
        ("scientific", species.scientific),
        ("xc_common", row.xc_common if row else None),
        ("bn_common", species.bn_common),
        ("bn_code", row.bn_code if row else None),
        ("bn_mapping_in_xc_dataset", row.bn_mapping_in_xc_dataset if row else None),
        ("relationship", row.relationship if row else None),
        ("birdnet_label", f"{label.scientific}_{label.common}" if label else None),
        ("alpha_code", species.alpha_code),
    ]
    for key, value in fields:
        click.echo(f"{key:<25} {value if value is not None else '-'}")
