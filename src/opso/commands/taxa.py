"""Species-name command: ``opso taxa NAME``."""

from __future__ import annotations

import click


@click.command()
@click.argument("name", nargs=-1, required=True)
def taxa(name: tuple[str, ...]) -> None:
    """Print every name of a bird species given any one of them.

    NAME may be a scientific name, a Xeno-canto or BirdNET common name, or a BirdNET code;
    case, spaces and hyphens are ignored (``opso taxa black and white warbler``).
    """
    from opso.domain.errors import UnknownSpeciesError
    from opso.taxa import species_table

    query = " ".join(name)
    try:
        row = species_table().lookup(query)
    except UnknownSpeciesError as e:
        raise click.ClickException(str(e)) from e
    fields = [
        ("scientific", row.scientific),
        ("xc_common", row.xc_common),
        ("bn_common", row.bn_common),
        ("bn_code", row.bn_code),
        ("bn_mapping_in_xc_dataset", row.bn_mapping_in_xc_dataset),
        ("relationship", row.relationship),
    ]
    for key, value in fields:
        click.echo(f"{key:<25} {value if value is not None else '-'}")
