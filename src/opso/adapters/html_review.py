"""The review page as one self-contained HTML file (data inline, no external assets).

Clips are cut into pages of ``page_size``; each page is an inert ``<template>`` that the
page's script puts on screen only when it is shown, so a review of thousands of clips loads
one page of images at a time. Marks live in the script (and the browser's ``localStorage``),
not in the form, so they survive moving between pages and reloading the page.

The page carries an empty session-token ``<meta>``: the review server fills it in when it
serves the page, and the page sends the token with its marks. Opened from disk, the page
downloads its marks instead.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from opso.adapters.atomic import write_text_atomic
from opso.domain.errors import ParameterError
from opso.ports.review import (
    DEFAULT_PAGE_SIZE,
    MARKS,
    TOKEN_HEADER,
    TOKEN_META,
    ReviewClip,
    ReviewPages,
)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
.clip { display: flex; gap: 1rem; align-items: center; margin: .6rem 0; padding: .4rem;
        border: 1px solid #ddd; border-radius: 6px; scroll-margin-top: 8rem; }
.clip.current { outline: 3px solid #1a5fb4; outline-offset: 2px; background: #eef4fc; }
.clip img { width: 400px; max-width: 100%; border: 1px solid #999; }
.meta { min-width: 16rem; font-size: .9rem; }
.marks label { margin-right: .8rem; }
#bar { position: sticky; top: 0; z-index: 1; background: #fff; padding: .5rem 0;
       border-bottom: 1px solid #ccc; }
#bar > div { margin: .2rem 0; }
#progress { margin-left: 1rem; }
#status { margin-left: 1rem; font-weight: bold; }
#pager { margin-left: 1rem; }
#keys { font-size: .85rem; color: #444; }
kbd { border: 1px solid #aaa; border-radius: 3px; padding: 0 .25rem; background: #f6f6f6;
      font-size: .8rem; }
"""

_LEGEND = (
    "Keys: <kbd>p</kbd>/<kbd>1</kbd> present &middot; <kbd>a</kbd>/<kbd>2</kbd> absent "
    "&middot; <kbd>u</kbd>/<kbd>3</kbd> unsure &middot; <kbd>x</kbd>/<kbd>0</kbd> clear "
    "&middot; <kbd>j</kbd>/<kbd>&darr;</kbd> next clip &middot; <kbd>k</kbd>/<kbd>&uarr;</kbd> "
    "previous clip &middot; <kbd>space</kbd> play/pause"
)

_SCRIPT = r"""
const MARKS = __MARKS__;
const TOKEN_HEADER = __TOKEN_HEADER__;  // the server that serves this page fills in its token
const TOKEN = document.querySelector(`meta[name="${__TOKEN_META__}"]`).content;
const clips = JSON.parse(document.getElementById('clips').textContent);
const known = new Set(clips.map(c => c.id));
const pages = Array.from(document.querySelectorAll('template.page'));
const view = document.getElementById('view');
const storeKey = 'opso-review:' + location.pathname;
const marks = loadMarks();
let pageIndex = 0;
let current = null;

function loadMarks() {  // marks kept by this browser for this page, for clips still on it
  try {
    const saved = JSON.parse(localStorage.getItem(storeKey) || '{}');
    return Object.fromEntries(Object.entries(saved).filter(
      ([id, mark]) => known.has(id) && MARKS.includes(mark)));
  } catch (e) {
    return {};
  }
}
function keepMarks() {
  try { localStorage.setItem(storeKey, JSON.stringify(marks)); } catch (e) { /* not kept */ }
}
function clipElements() { return Array.from(view.querySelectorAll('.clip')); }
function showProgress() {
  document.getElementById('progress').textContent =
    `${Object.keys(marks).length} of ${clips.length} reviewed`;
}
function showMark(element) {
  const mark = marks[element.dataset.id];
  for (const input of element.querySelectorAll('input[type="radio"]')) {
    input.checked = input.value === mark;
  }
}
function setMark(element, mark) {
  if (mark) marks[element.dataset.id] = mark; else delete marks[element.dataset.id];
  showMark(element);
  keepMarks();
  showProgress();
}
function pauseAll(except) {
  for (const audio of view.querySelectorAll('audio')) if (audio !== except) audio.pause();
}
function setCurrent(element, scroll) {
  if (current) { current.classList.remove('current'); current.removeAttribute('aria-current'); }
  current = element || null;
  if (!current) return;
  current.classList.add('current');
  current.setAttribute('aria-current', 'true');
  if (scroll) current.scrollIntoView({block: 'nearest'});
}
function showPage(index, at) {
  if (!pages.length) return;
  pageIndex = Math.max(0, Math.min(index, pages.length - 1));
  pauseAll(null);
  view.replaceChildren(pages[pageIndex].content.cloneNode(true));
  for (const element of clipElements()) showMark(element);
  const page = pages[pageIndex];
  const range = `${page.dataset.first}\u2013${page.dataset.last}`;
  document.getElementById('page-label').textContent =
    `page ${pageIndex + 1} of ${pages.length} (clips ${range})`;
  document.getElementById('prev-page').disabled = pageIndex === 0;
  document.getElementById('next-page').disabled = pageIndex === pages.length - 1;
  if (pages.length > 1) history.replaceState(null, '', `#page-${pageIndex + 1}`);
  const items = clipElements();
  if (at === 'last') {
    setCurrent(items[items.length - 1], true);
  } else {
    window.scrollTo(0, 0);
    setCurrent(items[0], false);
  }
}
function move(step) {
  const items = clipElements();
  const next = items.indexOf(current) + step;
  pauseAll(null);
  if (next >= 0 && next < items.length) setCurrent(items[next], true);
  else if (next >= items.length && pageIndex < pages.length - 1) showPage(pageIndex + 1, 'first');
  else if (next < 0 && pageIndex > 0) showPage(pageIndex - 1, 'last');
}
function playPause() {
  const audio = current && current.querySelector('audio');
  if (!audio) return;
  if (audio.paused) { pauseAll(audio); audio.play().catch(() => {}); } else audio.pause();
}
const KEYS = {
  p: () => current && setMark(current, 'present'), 1: () => current && setMark(current, 'present'),
  a: () => current && setMark(current, 'absent'), 2: () => current && setMark(current, 'absent'),
  u: () => current && setMark(current, 'unsure'), 3: () => current && setMark(current, 'unsure'),
  x: () => current && setMark(current, null), 0: () => current && setMark(current, null),
  j: () => move(1), ArrowDown: () => move(1), ArrowRight: () => move(1),
  k: () => move(-1), ArrowUp: () => move(-1), ArrowLeft: () => move(-1),
  ' ': playPause,
};
function typing(target) {
  if (!(target instanceof Element)) return false;
  if (target.isContentEditable || target.closest('textarea, select')) return true;
  return target.tagName === 'INPUT'
    && !['radio', 'checkbox', 'button', 'submit', 'reset'].includes(target.type);
}
document.addEventListener('keydown', event => {
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  if (event.target instanceof HTMLMediaElement) return;  // the player's own keys
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const action = Object.hasOwn(KEYS, key) ? KEYS[key] : null;
  if (!action) return;
  event.preventDefault();
  // a focused radio or button would also act on this key (arrows, space): take focus off it
  if (document.activeElement instanceof HTMLInputElement
      || document.activeElement instanceof HTMLButtonElement) document.activeElement.blur();
  action();
});
view.addEventListener('change', event => {
  const element = event.target.closest('.clip');
  if (!element || event.target.type !== 'radio') return;
  setCurrent(element, false);
  setMark(element, event.target.value);
});
view.addEventListener('click', event => {
  const element = event.target.closest('.clip');
  if (element) setCurrent(element, false);
});
view.addEventListener('play', event => {
  pauseAll(event.target);
  setCurrent(event.target.closest('.clip'), false);
}, true);
const turn = step => () => showPage(pageIndex + step, 'first');
document.getElementById('prev-page').addEventListener('click', turn(-1));
document.getElementById('next-page').addEventListener('click', turn(1));

function csvText() {
  const quote = v => `"${String(v).replaceAll('"', '""')}"`;
  const rows = [['id', 'file', 'start_time', 'end_time', 'class', 'score', 'mark'].join(',')];
  for (const c of clips) rows.push([c.id, c.file, c.start_time, c.end_time, c.label, c.score,
                                    marks[c.id] || ''].map(quote).join(','));
  return rows.join('\n') + '\n';
}
async function save() {
  const status = document.getElementById('status');
  if (location.protocol === 'file:') {  // opened from disk: no server to save to, download instead
    const link = document.createElement('a');
    link.href = URL.createObjectURL(new Blob([csvText()], {type: 'text/csv'}));
    link.download = 'review.csv';
    link.click();
    status.textContent = `downloaded ${Object.keys(marks).length} marks`;
    return;
  }
  const headers = {'Content-Type': 'application/json', [TOKEN_HEADER]: TOKEN};
  const response = await fetch('marks', {method: 'POST', headers, body: JSON.stringify(marks)});
  const reply = await response.json();
  const files = reply.files || [];
  const where = files.length > 3 ? `${files[0]} and ${files.length - 1} more files`
                                 : files.join(', ');
  status.textContent = response.ok ? `saved ${reply.saved} marks to ${where}`
                                   : `not saved: ${reply.error}`;
}
document.getElementById('save').addEventListener('click', save);

const wanted = /^#page-(\d+)$/.exec(location.hash);
showPage(wanted ? Number(wanted[1]) - 1 : 0, 'first');
showProgress();
"""


def _clip_html(clip: ReviewClip) -> str:
    e = html.escape
    radios = " ".join(
        f'<label><input type="radio" name="mark-{e(clip.id)}" value="{m}"> {m}</label>'
        for m in MARKS
    )
    when = f"{clip.start_time:.2f}&ndash;{clip.end_time:.2f} s"
    return (
        f'<div class="clip" id="clip-{e(clip.id)}" data-id="{e(clip.id)}">'
        f'<img src="{e(clip.image)}" loading="lazy" alt="spectrogram of {e(clip.file)}, {when}">'
        f'<div class="meta"><div><b>{e(clip.file)}</b></div>'
        f"<div>{when} &middot; score {clip.score:.3f}</div>"
        f'<audio controls preload="none" src="{e(clip.audio)}"></audio></div>'
        f'<div class="marks">{radios}</div></div>'
    )


def review_order(clips: Sequence[ReviewClip]) -> list[ReviewClip]:
    """Return ``clips`` grouped by class (in order of first appearance), best score first."""
    ordered: list[ReviewClip] = []
    for label in dict.fromkeys(c.label for c in clips):
        ordered.extend(sorted((c for c in clips if c.label == label), key=lambda c: -c.score))
    return ordered


def _page_html(
    number: int, items: Sequence[ReviewClip], first: int, counts: dict[str, int], seen: set[str]
) -> str:
    parts = []
    label = None
    for clip in items:
        if clip.label != label:
            label = clip.label
            more = ", continued" if label in seen else ""
            seen.add(label)
            parts.append(f"<h2>{html.escape(label)} ({counts[label]}{more})</h2>")
        parts.append(_clip_html(clip))
    body = "\n".join(parts)
    last = first + len(items) - 1
    return (
        f'<template class="page" data-page="{number}" data-first="{first}" data-last="{last}">'
        f"\n{body}\n</template>"
    )


class HtmlReviewPages(ReviewPages):
    """Write the review page: clips grouped by class, best first, in pages; a save button."""

    def write(
        self,
        clips: Sequence[ReviewClip],
        path: Path,
        *,
        title: str,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        """Write the page to ``path`` atomically, ``page_size`` clips to a page.

        Raises
        ------
        ValueError
            If ``page_size`` is below 1.
        """
        if page_size < 1:
            raise ParameterError(f"page_size must be at least 1, got {page_size}")
        ordered = review_order(clips)
        counts: dict[str, int] = {}
        for clip in ordered:
            counts[clip.label] = counts.get(clip.label, 0) + 1
        seen: set[str] = set()
        templates = [
            _page_html(n, ordered[start : start + page_size], start + 1, counts, seen)
            for n, start in enumerate(range(0, len(ordered), page_size), start=1)
        ]
        hidden = "" if len(templates) > 1 else " hidden"
        # the recording's full path stays off the page, which may be shared as a folder
        page_data = [{k: v for k, v in asdict(c).items() if k != "path"} for c in clips]
        data = json.dumps(page_data).replace("</", "<\\/")
        script = (
            _SCRIPT.replace("__MARKS__", json.dumps(list(MARKS)))
            .replace("__TOKEN_HEADER__", json.dumps(TOKEN_HEADER))
            .replace("__TOKEN_META__", json.dumps(TOKEN_META))
        )
        page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="{TOKEN_META}" content="">
<style>{_STYLE}</style></head>
<body>
<div id="bar"><div><b>{html.escape(title)}</b> &mdash; mark each clip, then
<button id="save" type="button">Save marks</button><span id="progress"></span>
<span id="pager"{hidden}><button id="prev-page" type="button">&lsaquo; Previous page</button>
<span id="page-label"></span>
<button id="next-page" type="button">Next page &rsaquo;</button></span>
<span id="status"></span></div>
<div id="keys">{_LEGEND}</div></div>
<main id="view">{"" if templates else "<p>No clips to review.</p>"}</main>
{"".join(templates)}
<script id="clips" type="application/json">{data}</script>
<script>{script}</script>
</body></html>
"""
        write_text_atomic(path, page)
