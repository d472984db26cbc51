"""Review command: ``opso review scores.csv --audio-root DIR``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from opso.commands.base import pass_container, progress_bar
from opso.ports.review import DEFAULT_PAGE_SIZE

if TYPE_CHECKING:
    from opso.container import Container


@click.command()
@click.argument("scores", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--audio-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(),
    show_default=True,
    help="Folder that relative file paths in the table start from.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("review"),
    show_default=True,
    help="Folder for the page and its media.",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="Clips per class, highest scores first.",
)
@click.option(
    "--page-size",
    type=click.IntRange(min=1),
    default=DEFAULT_PAGE_SIZE,
    show_default=True,
    help="Clips shown at a time on the page; the rest are a click (or a key) away.",
)
@click.option("--classes", default=None, help="Comma-separated classes to review [default: all].")
@click.option(
    "--raven",
    is_flag=True,
    help="With --serve, also save present clips as Raven selection tables, one per recording, "
    "in OUTPUT/raven/.",
)
@click.option(
    "--serve/--no-serve",
    default=False,
    show_default=True,
    help="Serve the page on localhost so marks save straight to review.csv.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port for --serve (0: any free port).",
)
@pass_container
def review(
    c: Container,
    scores: Path,
    audio_root: Path,
    output: Path,
    top_k: int,
    page_size: int,
    classes: str | None,
    raven: bool,
    serve: bool,
    port: int,
) -> None:
    """Build a page of the top-scoring clips per class to mark present, absent or unsure.

    SCORES is a table from `opso predict` (file, start_time, end_time, one column per class).
    Without --serve the page saves marks by downloading review.csv; with --serve they are
    written to OUTPUT/review.csv (and, with --raven, to one Raven table per recording,
    OUTPUT/raven/<recording>.Table.1.selections.txt, which `opso label` pairs with it).
    The page shows --page-size clips at a time; keys mark clips (p/a/u or 1/2/3), move
    between them (j/k or arrows) and play them (space).
    """
    if raven and not serve:
        raise click.UsageError(
            "--raven needs --serve: Raven tables are written by the review server when marks "
            "are saved (the page alone can only download review.csv)"
        )
    table = c.table_reader().read(scores, what="score table")
    wanted = [s.strip() for s in classes.split(",")] if classes else None
    with progress_bar("review", param_hint="SCORES") as progress:
        result = c.build_review().run(
            scores=table,
            audio_root=audio_root,
            output=output,
            top_k=top_k,
            classes=wanted,
            page_size=page_size,
            progress=progress,
        )
    for file, reason in result.failures:
        click.echo(f"warning: left out {file}: {reason}", err=True)
    click.echo(f"review page with {len(result.clips)} clips: {output / 'index.html'}")
    if not serve:
        return
    if raven:
        from opso.app.review import raven_tables

        raven_tables(result.clips, output)  # two recordings that would share a table: say so now
    saver = c.save_review_marks()

    def save(marks: Mapping[str, str]) -> list[Path]:
        return saver.run(clips=result.clips, marks=marks, output=output, raven=raven)

    server = c.review_server(output, save, port=port)
    click.echo(f"serving on {server.url} (Ctrl-C to stop); marks go to {output / 'review.csv'}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.stop()
