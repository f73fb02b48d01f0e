"""The HTML report: its numbers match the JSON, matches are shown per requirement image,
collection images are read only from under the collection root, warnings are all shown."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dhr_sdk.assessment.report_thumbs as thumbs_module
from dhr_sdk.assessment.assess import AssessmentReport, assess, make_assessor
from dhr_sdk.assessment.report import render_html, write_html
from dhr_sdk.assessment.report_thumbs import NO_ROOT, OUTSIDE_ROOT, under_root
from dhr_sdk.assessment.requirement import load_requirement, load_requirement_codes
from dhr_sdk.datasets.demo import load_demo_arrays
from dhr_sdk.testing import clustered_codes
from tests.clitools import run, write_images


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Digits under one model: 'zeros' mostly zeros, 'ones' mostly ones; the requirement
    is held-out zeros (weight 3, plus one broken file) and ones (weight 1)."""
    tmp = tmp_path_factory.mktemp("report")
    d = load_demo_arrays("mnist")
    zeros, ones, twos = (np.flatnonzero(d.class_index == c) for c in (0, 1, 2))
    write_images(tmp / "zeros", d.images[np.concatenate([zeros[:80], ones[:20]])])
    write_images(tmp / "ones", d.images[np.concatenate([ones[20:100], twos[:20]])])
    write_images(tmp / "req0", d.images[zeros[400:406]], "want-zero-")
    (tmp / "req0" / "broken.png").write_bytes(b"not a png")
    write_images(tmp / "req1", d.images[ones[400:403]], "want-one-")
    write_images(tmp / "outside", d.images[twos[400:401]], "secret-")
    run("fit", tmp / "zeros", tmp / "ones", "-o", tmp / "model.h5", "--hasher", "itq",
         "-p", "n_bits=16", "-q")
    for name in ("zeros", "ones"):
        run("encode", tmp / name, "--model", tmp / "model.h5", "-o", tmp / f"{name}.h5", "-q")
        run("graph", tmp / f"{name}.h5", "-q")
        run("rank", tmp / f"{name}.h5", "-q")
    return {"tmp": tmp, "zeros": tmp / "zeros.h5", "ones": tmp / "ones.h5"}


def _report(world: dict[str, Path], assessor: str = "wanted-count") -> AssessmentReport:
    req = load_requirement([world["tmp"] / "req0", world["tmp"] / "req1"], [3, 1])
    return assess(req, [world["ones"], world["zeros"]], make_assessor(assessor), top_images=4)


def _blocks(page: str) -> dict[str, str]:
    """Each collection's details block, unescaped, by collection name."""
    out = {}
    for block in page.split("<details>")[1:]:
        block = html.unescape(block.split("</details>")[0])
        name = re.match(r"<summary>\d+\. ([^:]+):", block)
        assert name is not None
        out[name.group(1)] = block
    return out


def test_numbers_match_the_json(world: dict[str, Path]) -> None:
    report = _report(world)
    page = render_html([("req", report)])
    blocks = _blocks(page)
    data = report.to_json()
    assert [r["collection"] for r in data["results"]] == ["zeros", "ones"]
    assert set(blocks) == {"zeros", "ones"}
    table = html.unescape(page.split("<details>")[0])
    assert "90 % interval" in table and "wanted" in table
    assert "req0 0.75 (6 images), req1 0.25 (3 images)" in table.replace(
        str(world["tmp"]) + "/", "")
    for r in data["results"]:
        e, block = r["estimate"], blocks[r["collection"]]
        assert f"≈{e['count']:,.0f} of its {e['n_images']:,} images" in block
        assert f"between {e['low']:,.0f} and {e['high']:,.0f} (90 % jackknife interval)" in block
        assert f"R(AD) = {r['relevance']:.3f}" in block and f"S = {r['score']:.4g}:" in block
        assert f"k/N = {r['k']:,}/{r['n']:,}:" in block
        assert f"{r['matches']:,} distinct images lie within Hamming radius 2" in block
        assert f"holds {r['n_images']:,} images" in block
        # per image 0.75/6 and 0.25/3: a match of only the ones counts 0.0833/0.125
        assert "only the lightest examples counts 0.667, not 1" in block
        row = f"<td class=\"num\">{e['count']:,.0f}</td><td class=\"num\">{e['low']:,.0f}–"
        assert row in table
    assert 'style="width:100px"' in table  # the largest share has the longest bar
    zeros = next(r for r in data["results"] if r["collection"] == "zeros")
    assert zeros["estimate"]["count"] > 20  # the numbers checked above are not all zero


def test_matched_file_names_and_each_requirement_image_has_its_matches(
        world: dict[str, Path]) -> None:
    report = _report(world)
    blocks = _blocks(render_html([("req", report)]))
    n_req = len(report.requirement.paths)
    assert n_req == 9
    seen_own = 0
    for r in report.results:
        block = blocks[r.target.name]
        top = r.matched_images(report.top_images)
        assert top and all(t["image_id"] in block for t in top)
        rows = block.split("its nearest matches</th></tr>")[1].split("<tr>")[1:]
        assert len(rows) == n_req
        for i, path in enumerate(report.requirement.paths):
            (row,) = [x for x in rows if f"<figcaption>{path.name}</figcaption>" in x]
            own = r.matched_images(report.top_images, requirement_image=i)
            for t in own:
                assert f"{t['image_id']}<br>d={t['distance']}" in row
            if not own:
                assert "no image within radius 2" in row
            seen_own += len(own)
    assert seen_own > 0


def test_collection_images_are_read_only_under_the_root(
        world: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    report = _report(world)
    r = next(x for x in report.results if x.target.name == "zeros")
    roots = [Path(x.target.root).resolve() for x in report.results]
    secret = (world["tmp"] / "outside" / "secret-0000.png").resolve()
    link = Path(r.target.root) / "link-out.png"
    link.symlink_to(secret)
    ids = r.target.image_ids
    crafted = ["../../etc/passwd", str(secret), "link-out.png"]
    for t, bad in zip(r.matched_images(3), crafted, strict=True):
        ids[ids.index(t["image_id"])] = bad
    read: list[Path] = []
    real = thumbs_module.load_rgb

    def spy(path: Path) -> Image.Image:
        read.append(Path(path))
        return real(path)

    monkeypatch.setattr(thumbs_module, "load_rgb", spy)
    try:
        page = render_html([("req", report)])
    finally:
        link.unlink()
    req_files = {p.resolve() for p in report.requirement.paths}
    assert read and all(any(p.is_relative_to(x) for x in roots) or p in req_files
                        for p in read)
    assert secret not in read and not any(p.name == "passwd" for p in read)
    block = _blocks(page)["zeros"]
    for bad in crafted:
        assert f'<span class="miss" title="{bad}">{OUTSIDE_ROOT}</span>' in block
    # the collection's other matched images are still read
    assert any(p.is_relative_to(Path(r.target.root).resolve()) for p in read)


def test_under_root(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.png").write_bytes(b"")
    (tmp_path / "a" / "out").symlink_to(tmp_path)
    assert under_root(str(tmp_path / "a"), "x.png") == (tmp_path / "a" / "x.png").resolve()
    assert under_root(str(tmp_path / "a"), "../a/x.png") is not None
    for bad in ("../x.png", "/etc/passwd", str(tmp_path / "x.png"), "out/x.png", "x\0.png"):
        assert under_root(str(tmp_path / "a"), bad) is None
    assert under_root("", "x.png") is None


def test_warnings_are_all_shown_and_escaped(world: dict[str, Path]) -> None:
    report = _report(world)
    skipped = [w for w in report.warnings if "broken.png" in w]
    assert len(skipped) == 1 and "skipped unreadable requirement file" in skipped[0]
    extra = [f"warning {i} <script>alert({i})</script>" for i in range(5)]
    report.results[0].warnings += extra
    report.warnings.append("report-level & <b>bold</b>")
    page = render_html([("req", report)])
    assert "<script>" not in page and "<b>bold</b>" not in page
    block = _blocks(page)[report.results[0].target.name]
    for w in report.results[0].warnings:
        assert f"<li>{w}</li>" in block
    text = html.unescape(page)
    assert all(w in text for w in report.warnings)


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attrs += attrs
        if tag not in ("meta", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open.pop() == tag


def test_html_parses_is_self_contained_and_deterministic(world: dict[str, Path],
                                                         tmp_path: Path) -> None:
    report = _report(world)
    out = write_html(tmp_path / "sub" / "r.html", [("first", report), ("again", report)])
    page = out.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    assert parser.open == []
    assert not [v for k, v in parser.attrs if k in ("src", "href")]
    assert 'src="http' not in page and "url(http" not in page and "@import" not in page
    assert page.count("<details>") == 2 * len(report.results)
    # each distinct image's data is inlined once, however often it is shown
    uris = re.findall(r"base64,([A-Za-z0-9+/=]+)\)", page)
    assert len(uris) == len(set(uris)) >= len(report.requirement.paths)
    assert page.count('class="th t0"') >= 4
    assert render_html([("first", report), ("again", report)]) == page


def test_paper_ranking_without_estimate(world: dict[str, Path]) -> None:
    report = _report(world, "importance-list")
    assert report.assessor is report.paper_assessor
    page = render_html([("req", report)])
    text = html.unescape(page)
    assert "≈" not in text and "interval" not in text and "<th>wanted</th>" not in page
    assert "ranked by the paper's R(AD)" in text
    for r, block in zip(report.to_json()["results"], _blocks(page).values(), strict=True):
        assert f"R(AD) = {r['relevance']:.3f}" in block and f"k/N = {r['k']:,}/" in block


def test_single_example_says_the_interval_is_unknown(world: dict[str, Path]) -> None:
    req = load_requirement([world["tmp"] / "req0" / "want-zero-0000.png"])
    report = assess(req, [world["zeros"]])
    text = html.unescape(render_html([("one", report)]))
    assert "with a single example image the interval is unknown" in text
    assert "Counted by weight" not in text


def test_codes_requirement_and_store_without_root_read_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Imported codes: the store records no root and the requirement names no files."""
    codes = clustered_codes(200, 32, 3, 0.02, seed=1)
    np.save(tmp_path / "c.npy", codes)
    np.save(tmp_path / "req.npy", codes[:3])
    store = tmp_path / "c.h5"
    for args in (["import-codes", tmp_path / "c.npy", store], ["graph", store],
                 ["rank", store, "-p", "solver=closed", "-q"]):
        run(*args)
    report = assess(load_requirement_codes(tmp_path / "req.npy"), [store])

    def never(path: Path) -> Image.Image:
        raise AssertionError(f"read {path}")

    monkeypatch.setattr(thumbs_module, "load_rgb", never)
    page = html.unescape(render_html([("codes", report)]))
    assert "(3 codes)" in page and page.count("(given as a code)") == 3 * 2
    assert NO_ROOT in page and report.results[0].matches > 0
