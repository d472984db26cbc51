"""An activity summary as one HTML page: notes, tables, and each species' plots."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from opso.adapters.html_report import STYLE, section_html, write_page
from opso.ports.report import ReportSection
from opso.ports.summary import PageTable, SummaryPage

_STYLE = (
    STYLE
    + """table { border-collapse: collapse; margin-bottom: 1.5rem; font-size: 0.9rem; }
th, td { padding: 0.2rem 0.6rem; border-bottom: 1px solid #ddd; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
"""
)


def _table(t: PageTable) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{v}</td>' if isinstance(v, int | float) else f"<td>{e(str(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in t.rows
    )
    title = f'<a href="{e(t.link)}">{e(t.title)}</a>' if t.link else e(t.title)
    table = f"<table><tr>{head}</tr>{body}</table>" if t.rows else ""
    return f"<h2>{title}</h2>{table}"


class HtmlSummaryPage(SummaryPage):
    """Write a summary page: notes, tables, then one section per species with its plots."""

    def write(
        self,
        path: Path,
        *,
        title: str,
        notes: Sequence[str],
        tables: Sequence[PageTable],
        sections: Sequence[ReportSection],
    ) -> None:
        """Write the page atomically; image paths are relative to its folder."""
        parts = [f"<p>{html.escape(n)}</p>" for n in notes]
        parts += [_table(t) for t in tables]
        parts += [section_html(s) for s in sections]
        write_page(path, title=title, parts=parts, style=_STYLE)
