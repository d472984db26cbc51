"""A run report as one HTML page linking its pictures and tables."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from opso.adapters.atomic import write_text_atomic
from opso.ports.report import ReportPage, ReportSection

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 62rem; color: #222; }
section { margin-bottom: 2.5rem; }
img { max-width: 100%; border: 1px solid #ccc; }
"""


def section_html(s: ReportSection) -> str:
    """Return one section: heading, text, pictures inline and files linked."""
    e = html.escape
    images = "".join(f'<p><img src="{e(i)}" alt="{e(s.title)}"></p>' for i in s.images)
    files = ", ".join(f'<a href="{e(f)}">{e(f)}</a>' for f in s.files)
    return (
        f"<section><h2>{e(s.title)}</h2><p>{e(s.text)}</p>{images}"
        + (f"<p>Files: {files}</p>" if files else "")
        + "</section>"
    )


def write_page(path: Path, *, title: str, parts: Sequence[str], style: str = STYLE) -> None:
    """Write a page atomically: ``title`` as its heading, then ``parts`` (HTML) one per line."""
    e = html.escape
    body = "\n".join([f"<h1>{e(title)}</h1>", *parts])
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}'
        f"</title><style>{style}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
    write_text_atomic(path, page)


class HtmlReportPage(ReportPage):
    """Write ``index.html``: one section per step, its pictures inline and its files linked."""

    def write(self, sections: Sequence[ReportSection], path: Path, *, title: str) -> None:
        """Write the page atomically."""
        write_page(path, title=title, parts=[section_html(s) for s in sections])
