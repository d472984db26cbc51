"""Click through a review in headless Chromium and check the marks saved to disk."""

import csv
import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from opso.adapters.http_review_server import ReviewServer
from opso.container import Container
from opso.ports.review import ReviewClip

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def served_review(
    test_data: Path, tmp_path: Path
) -> Iterator[tuple[ReviewServer, list[ReviewClip], Path]]:
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
    out = tmp_path / "review"
    c = Container()
    result = c.build_review().run(scores=scores, audio_root=audio.parent, output=out, top_k=2)
    saver = c.save_review_marks()

    def save(marks: Mapping[str, str]) -> list[Path]:
        return saver.run(clips=result.clips, marks=marks, output=out, raven=True)

    server = ReviewServer(out, save)
    server.start()
    try:
        yield server, result.clips, out
    finally:
        server.stop()


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
    assert status == "saved 3 marks to review.csv, review.selections.txt"
    with (out / "review.csv").open() as fh:
        rows = {r["id"]: r for r in csv.DictReader(fh)}
    assert {k: rows[k]["mark"] for k in wanted} == wanted
    assert rows[clips[3].id]["mark"] == ""
    raven = (out / "review.selections.txt").read_text().splitlines()
    assert len(raven) == 2 and raven[0].startswith("Selection\t")


def test_server_rejects_bad_marks(
    served_review: tuple[ReviewServer, list[ReviewClip], Path],
) -> None:
    server, clips, out = served_review
    url = server.url.replace("index.html", "marks")
    request = urllib.request.Request(
        url,
        data=json.dumps({clips[0].id: "maybe"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request)
    assert info.value.code == 400
    assert "must be one of" in json.loads(info.value.read())["error"]
    assert not (out / "review.csv").exists()
