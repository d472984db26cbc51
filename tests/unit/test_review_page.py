"""The review page builder: pages of clips, legend, progress, all in one file."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from opso.adapters.html_review import HtmlReviewPages
from opso.ports.review import TOKEN_META, ReviewClip


class PageOutline(HTMLParser):
    """What a reader of the page gets: the clips of each page, headings, assets, inline data."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: list[list[str]] = []
        self.headings: list[list[str]] = []
        self.outside: list[str] = []  # clips not inside a page
        self.external: list[str] = []  # scripts or styles fetched from elsewhere
        self.images: list[dict[str, str | None]] = []
        self.audio: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.data = ""
        self.meta: dict[str, str | None] = {}
        self._in: list[str] = []
        self._id: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "template":
            self.pages.append([])
            self.headings.append([])
        elif tag == "div" and a.get("class") == "clip":
            (self.pages[-1] if "template" in self._in else self.outside).append(a["data-id"] or "")
        elif tag == "img":
            self.images.append(a)
        elif tag == "audio":
            self.audio.append(a)
        elif tag == "meta" and a.get("name"):
            self.meta[a["name"] or ""] = a.get("content")
        elif tag in ("script", "link") and (a.get("src") or a.get("href")):
            self.external.append(a.get("src") or a.get("href") or "")
        if tag not in ("img", "input", "meta", "br"):
            self._in.append(tag)
        self._id = a.get("id")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "h2":
            self.headings[-1].append(data)
        elif self._in and self._in[-1] == "script" and self._id == "clips":
            self.data += data
        self.text.append(data)


def clips(n: int, label: str) -> list[ReviewClip]:
    return [
        ReviewClip(
            f"{i:04d}-{label}",
            f"r{i}.wav",
            0.0,
            5.0,
            label,
            0.5 + i / 1e4,
            "a.wav",
            "i.png",
            f"/home/someone/recordings/r{i}.wav",
            22050,
        )
        for i in range(n)
    ]


def outline(tmp_path: Path, review: list[ReviewClip], **kw: int) -> PageOutline:
    path = tmp_path / "index.html"
    HtmlReviewPages().write(review, path, title="Review", **kw)
    parsed = PageOutline()
    parsed.feed(path.read_text())
    return parsed


def test_thousands_of_clips_are_cut_into_pages_of_page_size(tmp_path: Path) -> None:
    review = clips(1500, "owl") + clips(700, "frog")
    page = outline(tmp_path, review, page_size=400)
    assert [len(p) for p in page.pages] == [400] * 5 + [200]
    assert page.outside == []  # nothing is on screen (or loading) until the script shows a page
    # each class best first, owls first; every clip once
    ordered = [i for p in page.pages for i in p]
    assert ordered[:2] == ["1499-owl", "1498-owl"] and ordered[1500:1502] == [
        "0699-frog",
        "0698-frog",
    ]
    assert sorted(ordered) == sorted(c.id for c in review)
    # a class split over pages is named again where it continues
    assert page.headings[0] == ["owl (1500)"] and page.headings[1] == ["owl (1500, continued)"]
    assert page.headings[3] == ["owl (1500, continued)", "frog (700)"]
    # and all clips are still in the data the save button writes
    assert len(json.loads(page.data)) == 2200


def test_default_page_size_is_100_and_small_reviews_are_one_page(tmp_path: Path) -> None:
    assert [len(p) for p in outline(tmp_path, clips(230, "owl")).pages] == [100, 100, 30]
    assert [len(p) for p in outline(tmp_path, clips(4, "owl")).pages] == [4]


def test_page_is_self_contained_with_lazy_media_legend_and_progress(tmp_path: Path) -> None:
    page = outline(tmp_path, clips(3, "owl"))
    assert page.external == []
    assert all(i["loading"] == "lazy" for i in page.images) and len(page.images) == 3
    assert all(a["preload"] == "none" for a in page.audio) and len(page.audio) == 3
    text = " ".join(page.text)
    for key in ["p", "1", "a", "2", "u", "3", "j", "k", "space"]:
        assert f" {key} " in f" {text} ".replace("/", " ")
    assert "present" in text and "play/pause" in text


def test_no_clips_says_so_and_bad_page_size_is_refused(tmp_path: Path) -> None:
    page = outline(tmp_path, [])
    assert page.pages == [] and "No clips to review." in page.text
    with pytest.raises(ValueError, match="page_size must be at least 1, got 0"):
        HtmlReviewPages().write(clips(3, "owl"), tmp_path / "x.html", title="t", page_size=0)
    assert not (tmp_path / "x.html").exists()


def test_page_on_disk_has_an_empty_token_slot_and_no_full_recording_paths(tmp_path: Path) -> None:
    page = outline(tmp_path, clips(2, "owl"))
    assert page.meta == {TOKEN_META: ""}  # the review server fills it in when serving the page
    assert [c["file"] for c in json.loads(page.data)] == ["r0.wav", "r1.wav"]
    assert "/home/someone" not in (tmp_path / "index.html").read_text()
