"""Click through a review in headless Chromium and check the marks saved to disk."""

import csv
import functools
import json
import shutil
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from opso.adapters.http_review_server import ReviewServer
from opso.container import Container
from opso.ports.review import TOKEN_HEADER, ReviewClip

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
RAVEN_TABLE = "raven/Recording_1_Segment_07-snippet.Table.1.selections.txt"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def build_review(
    test_data: Path, out: Path, *, page_size: int = 100
) -> tuple[list[ReviewClip], Callable[[Mapping[str, str]], list[Path]]]:
    """Build a review of 4 clips (2 per class) into ``out``; return its clips and a saver."""
    audio = test_data / "crowsetta" / "audio" / "Recording_1_Segment_07-snippet.wav"
    scores = pd.DataFrame(
        {
            "file": [audio.name] * 2,
            "start_time": [0.0, 5.0],
            "end_time": [5.0, 10.0],
            "NOCA": [0.9, 0.4],
            "WOTH": [0.3, 0.8],
        }
    )
    c = Container()
    result = c.build_review().run(
        scores=scores, audio_root=audio.parent, output=out, top_k=2, page_size=page_size
    )
    saver = c.save_review_marks()

    def save(marks: Mapping[str, str]) -> list[Path]:
        return saver.run(clips=result.clips, marks=marks, output=out, raven=True)

    return result.clips, save


@contextmanager
def serving(out: Path, save: Callable[[Mapping[str, str]], list[Path]]) -> Iterator[ReviewServer]:
    server = ReviewServer(out, save)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def served_review(
    test_data: Path, tmp_path: Path
) -> Iterator[tuple[ReviewServer, list[ReviewClip], Path]]:
    out = tmp_path / "review"
    clips, save = build_review(test_data, out)
    with serving(out, save) as server:
        yield server, clips, out


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def test_click_through_review_saves_marks(
    served_review: tuple[ReviewServer, list[ReviewClip], Path],
) -> None:
    server, clips, out = served_review
    assert len(clips) == 4
    wanted = {clips[0].id: "present", clips[1].id: "absent", clips[2].id: "unsure"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.goto(server.url)
        assert page.locator(".clip").count() == 4
        assert page.locator("img").first.evaluate("img => img.naturalWidth") > 0  # image served
        for clip_id, mark in wanted.items():
            page.locator(f'input[name="mark-{clip_id}"][value="{mark}"]').check()
        page.click("#save")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
        status = page.locator("#status").text_content()
        browser.close()
    assert status == f"saved 3 marks to review.csv, {RAVEN_TABLE}"
    with (out / "review.csv").open() as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    assert {k: rows[k]["mark"] for k in wanted} == wanted
    assert rows[clips[3].id]["mark"] == ""
    raven = (out / RAVEN_TABLE).read_text().splitlines()
    assert len(raven) == 2 and raven[0].startswith("Selection\t")


def test_server_rejects_bad_marks(
    served_review: tuple[ReviewServer, list[ReviewClip], Path],
) -> None:
    server, clips, out = served_review
    url = server.url.replace("index.html", "marks")
    request = urllib.request.Request(
        url,
        data=json.dumps({clips[0].id: "maybe"}).encode(),
        headers={"Content-Type": "application/json", TOKEN_HEADER: server.token},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400
    assert "must be one of" in json.loads(info.value.read())["error"]
    assert not (out / "review.csv").exists()


def progress(page: Page) -> str:
    return page.locator("#progress").inner_text()


def current(page: Page) -> str | None:
    return page.locator(".clip.current").get_attribute("data-id")


def mark_shown(page: Page, clip_id: str) -> str | None:
    checked = page.locator(f'input[name="mark-{clip_id}"]:checked')
    return checked.get_attribute("value") if checked.count() else None


def test_keys_mark_clips_across_pages_and_marks_are_saved(
    test_data: Path, tmp_path: Path, browser: Browser
) -> None:
    out = tmp_path / "review"
    clips, save = build_review(test_data, out, page_size=3)
    ids = [c.id for c in clips]  # page order: each class best first, NOCA then WOTH
    with serving(out, save) as server:
        page = browser.new_page()
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(server.url)
        assert page.locator("#page-label").inner_text() == "page 1 of 2 (clips 1\u20133)"
        assert page.locator(".clip").evaluate_all("cs => cs.map(c => c.dataset.id)") == ids[:3]
        assert "p/1 present" in page.locator("#keys").inner_text()
        assert progress(page) == "0 of 4 reviewed"
        assert current(page) == ids[0]

        page.keyboard.press("p")
        assert mark_shown(page, ids[0]) == "present"
        assert progress(page) == "1 of 4 reviewed"
        page.keyboard.press("j")
        page.keyboard.press("2")
        page.keyboard.press("ArrowDown")
        page.keyboard.press("u")
        assert [mark_shown(page, i) for i in ids[:3]] == ["present", "absent", "unsure"]
        assert progress(page) == "3 of 4 reviewed"

        page.keyboard.press(" ")  # play the current clip, then pause it
        page.wait_for_function("!document.querySelector('.clip.current audio').paused")
        page.keyboard.press(" ")
        page.wait_for_function("document.querySelector('.clip.current audio').paused")

        page.keyboard.press("j")  # past the last clip of the page: on to the next page
        assert page.locator("#page-label").inner_text() == "page 2 of 2 (clips 4\u20134)"
        assert current(page) == ids[3] and page.locator(".clip").count() == 1
        page.keyboard.press("a")
        assert progress(page) == "4 of 4 reviewed"
        page.keyboard.press("x")  # and cleared again
        assert mark_shown(page, ids[3]) is None
        assert progress(page) == "3 of 4 reviewed"
        page.keyboard.press("k")  # back over the page edge: the marks given there are kept
        assert current(page) == ids[2]
        assert [mark_shown(page, i) for i in ids[:3]] == ["present", "absent", "unsure"]
        page.click("#next-page")
        assert current(page) == ids[3]
        page.click("#prev-page")
        assert current(page) == ids[0]

        page.evaluate(
            "document.body.append(Object.assign(document.createElement('input'), {id: 'note'}))"
        )
        page.locator("#note").press_sequentially("ja2 k")  # typing is not a shortcut
        assert page.locator("#note").input_value() == "ja2 k"
        assert current(page) == ids[0] and mark_shown(page, ids[0]) == "present"

        page.click("#save")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
        assert page.locator("#status").inner_text() == f"saved 3 marks to review.csv, {RAVEN_TABLE}"
        page.reload()  # the browser kept the marks
        assert progress(page) == "3 of 4 reviewed"
        assert mark_shown(page, ids[1]) == "absent"
    with (out / "review.csv").open() as fh:
        saved = {r["id"]: r["mark"] for r in csv.DictReader(fh)}
    assert saved == {ids[0]: "present", ids[1]: "absent", ids[2]: "unsure", ids[3]: ""}
    images = {
        u.rsplit("/", 2)[-2] + "/" + u.rsplit("/", 1)[-1] for u in requested if "/images/" in u
    }
    assert images and images <= {
        c.image for c in clips[:3]
    }  # the other page's image was not fetched
    assert all(u.startswith(server.url.removesuffix("index.html")) for u in requested)


def test_page_from_disk_downloads_marks_given_on_every_page(
    test_data: Path, tmp_path: Path, browser: Browser
) -> None:
    out = tmp_path / "review"
    clips, _ = build_review(test_data, out, page_size=2)
    page = browser.new_page(accept_downloads=True)
    page.goto((out / "index.html").as_uri())
    assert page.locator("#page-label").inner_text() == "page 1 of 2 (clips 1\u20132)"
    page.keyboard.press("1")
    page.click("#next-page")
    page.keyboard.press("j")
    page.keyboard.press("3")
    assert progress(page) == "2 of 4 reviewed"
    with page.expect_download() as info:
        page.click("#save")
    assert page.locator("#status").inner_text() == "downloaded 2 marks"
    with Path(info.value.path()).open() as fh:
        saved = {r["id"]: r["mark"] for r in csv.DictReader(fh)}
    assert saved == {
        clips[0].id: "present",
        clips[1].id: "",
        clips[2].id: "",
        clips[3].id: "unsure",
    }


ATTACK = """<!DOCTYPE html><html><body>
<iframe name="sink"></iframe>
<form id="form" action="TARGET/marks" method="post" enctype="text/plain" target="sink">
<input name='{"x":"' value='"}'></form>
<script>
const target = 'TARGET';
window.results = {};
async function attack() {
  // a simple request: no preflight, the browser sends it and hides the answer
  await fetch(target + '/marks', {method: 'POST', mode: 'no-cors',
                                  headers: {'Content-Type': 'text/plain'}, body: '{}'});
  // the page's own kind of request: preflighted, which the review server does not answer
  try {
    await fetch(target + '/marks', {method: 'POST', body: '{}',
      headers: {'Content-Type': 'application/json', 'X-Opso-Token': 'guessed'}});
    window.results.json = 'sent';
  } catch (e) { window.results.json = 'blocked'; }
  // reading the served page for its token
  try { await (await fetch(target + '/index.html')).text(); window.results.read = 'read'; }
  catch (e) { window.results.read = 'blocked'; }
  document.getElementById('form').submit();
}
attack().then(() => { window.results.done = true; });
</script></body></html>
"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def other_site(folder: Path) -> Iterator[str]:
    """Serve ``folder`` from another origin (this machine, another port); yield its address."""
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_another_site_cannot_change_the_saved_marks(
    served_review: tuple[ReviewServer, list[ReviewClip], Path], browser: Browser, tmp_path: Path
) -> None:
    server, clips, out = served_review
    review = browser.new_page()
    review.goto(server.url)
    review.keyboard.press("p")
    review.click("#save")
    review.wait_for_function("document.getElementById('status').textContent.startsWith('saved')")
    saved = {p: p.read_bytes() for p in (out / "review.csv", out / RAVEN_TABLE)}

    site = tmp_path / "elsewhere"
    site.mkdir()
    origin = server.url.removesuffix("/index.html")
    (site / "attack.html").write_text(ATTACK.replace("TARGET", origin))
    with other_site(site) as address:
        evil = browser.new_page()
        answers: list[tuple[str, int]] = []
        evil.on("response", lambda r: answers.append((r.request.method, r.status)))
        with evil.expect_event("requestfinished", lambda r: r.frame.name == "sink"):
            evil.goto(f"{address}/attack.html")
            evil.wait_for_function("window.results.done === true")
        results = evil.evaluate("window.results")
    assert results == {"json": "blocked", "read": "blocked", "done": True}
    assert answers.count(("POST", 403)) == 2  # the no-cors fetch and the form reached the server
    assert ("POST", 200) not in answers
    assert {p: p.read_bytes() for p in saved} == saved  # and changed nothing

    review.keyboard.press("j")
    review.keyboard.press("a")
    review.click("#save")
    review.wait_for_function(
        "table => document.getElementById('status').textContent"
        " === `saved 2 marks to review.csv, ${table}`",
        arg=RAVEN_TABLE,
    )
    with (out / "review.csv").open() as fh:
        marks = {r["id"]: r["mark"] for r in csv.DictReader(fh)}
    assert marks == {
        clips[0].id: "present",
        clips[1].id: "absent",
        clips[2].id: "",
        clips[3].id: "",
    }
