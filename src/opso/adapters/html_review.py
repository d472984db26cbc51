"""The review page as one self-contained HTML file (data inline, no external assets)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from opso.adapters.atomic import write_text_atomic
from opso.ports.review import MARKS, ReviewClip, ReviewPages

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
.clip { display: flex; gap: 1rem; align-items: center; margin: .6rem 0; padding: .4rem;
        border: 1px solid #ddd; border-radius: 6px; }
.clip img { height: 160px; border: 1px solid #999; }
.meta { min-width: 16rem; font-size: .9rem; }
.marks label { margin-right: .8rem; }
#bar { position: sticky; top: 0; background: #fff; padding: .5rem 0;
       border-bottom: 1px solid #ccc; }
#status { margin-left: 1rem; font-weight: bold; }
"""

_SCRIPT = """
const clips = JSON.parse(document.getElementById('clips').textContent);
function currentMarks() {
  const marks = {};
  for (const c of clips) {
    const checked = document.querySelector(`input[name="mark-${c.id}"]:checked`);
    if (checked) marks[c.id] = checked.value;
  }
  return marks;
}
function csvText(marks) {
  const quote = v => `"${String(v).replaceAll('"', '""')}"`;
  const rows = [['id', 'file', 'start_time', 'end_time', 'class', 'score', 'mark'].join(',')];
  for (const c of clips) rows.push([c.id, c.file, c.start_time, c.end_time, c.label, c.score,
                                    marks[c.id] || ''].map(quote).join(','));
  return rows.join('\\n') + '\\n';
}
async function save() {
  const marks = currentMarks();
  const status = document.getElementById('status');
  if (location.protocol === 'file:') {  // opened from disk: no server to save to, download instead
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([csvText(marks)], {type: 'text/csv'}));
    link.download = 'review.csv';
    link.click();
    status.textContent = `downloaded ${Object.keys(marks).length} marks`;
    return;
  }
  const response = await fetch('marks', {method: 'POST',
                                         headers: {'Content-Type': 'application/json'},
                                         body: JSON.stringify(marks)});
  const reply = await response.json();
  status.textContent = response.ok ? `saved ${reply.saved} marks to ${reply.files.join(', ')}`
                                   : `not saved: ${reply.error}`;
}
document.getElementById('save').addEventListener('click', save);
"""


def _clip_html(clip: ReviewClip) -> str:
    e = html.escape
    radios = " ".join(
        f'<label><input type="radio" name="mark-{e(clip.id)}" value="{m}"> {m}</label>'
        for m in MARKS
    )
    when = f"{clip.start_time:.2f}&ndash;{clip.end_time:.2f} s"
    return (
        f'<div class="clip" id="clip-{e(clip.id)}">'
        f'<img src="{e(clip.image)}" alt="spectrogram of {e(clip.file)}, {when}">'
        f'<div class="meta"><div><b>{e(clip.file)}</b></div>'
        f"<div>{when} &middot; score {clip.score:.3f}</div>"
        f'<audio controls preload="none" src="{e(clip.audio)}"></audio></div>'
        f'<div class="marks">{radios}</div></div>'
    )


class HtmlReviewPages(ReviewPages):
    """Write the review page: one section per class, clips best first, a save button."""

    def write(self, clips: Sequence[ReviewClip], path: Path, *, title: str) -> None:
        """Write the page to ``path`` atomically."""
        sections = []
        for label in dict.fromkeys(c.label for c in clips):
            items = sorted((c for c in clips if c.label == label), key=lambda c: -c.score)
            body = "\n".join(_clip_html(c) for c in items)
            sections.append(f"<h2>{html.escape(label)} ({len(items)})</h2>\n{body}")
        data = json.dumps([asdict(c) for c in clips]).replace("</", "<\\/")
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<div id="bar"><b>{html.escape(title)}</b> &mdash; mark each clip, then
<button id="save" type="button">Save marks</button><span id="status"></span></div>
{"".join(sections) or "<p>No clips to review.</p>"}
<script id="clips" type="application/json">{data}</script>
<script>{_SCRIPT}</script>
</body></html>
"""
        write_text_atomic(path, page)
