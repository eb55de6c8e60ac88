"""The HTML report as a person sees it: the bundled sample's report opened in a real headless
Chromium, at desktop and at phone width, read back from the rendered page and from its
screenshot."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Chromium, chromium_binary
from PIL import Image
from test_batch import run
from test_report import SAMPLE

BINARY = chromium_binary()
if BINARY is None:
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        raise RuntimeError("CI must have chromium (.ci/run installs Debian's package)")
    pytest.skip("chromium is not installed (apt-get install chromium); CI installs it",
                allow_module_level=True)

# The page's own colours (the template's :root): valid, invalid, and the bars.
GREEN, RED, BLUE = (0x2E, 0x7D, 0x32), (0xC6, 0x28, 0x28), (0x3F, 0x6F, 0xB5)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    result = run(SAMPLE, "--no-check-mx", "--report", folder / "report.html", "-q")
    assert result.returncode == 1, result.stderr
    return folder / "report.html"


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    assert BINARY is not None
    with Chromium(BINARY) as found:
        yield found


def _pixels(png: bytes, colour: tuple[int, int, int]) -> int:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    return sum(n for n, rgb in image.getcolors(1 << 24) or [] if rgb == colour)


SEEN = """(() => {
  const text = id => document.getElementById(id).innerText.trim();
  const drawn = sel => [...document.querySelectorAll(sel)].filter(r => {
    const box = r.getBoundingClientRect(); return box.width > 0 && box.height > 0; }).length;
  return {
    read: text("rows-read"), valid: text("rows-valid"), invalid: text("rows-invalid"),
    unverified: text("rows-unverified"),
    codeBars: drawn("#chart-codes rect"), fieldBars: drawn("#chart-fields rect"),
    domainBars: drawn("#chart-domains rect"), stack: drawn("svg.stack rect"),
    total1003: document.querySelector("#code-1003").innerText,
    body: document.body.innerText,
    scrollWidth: document.documentElement.scrollWidth, width: innerWidth,
    scripts: document.scripts.length,
    external: performance.getEntriesByType("resource").map(e => e.name),
  };
})()"""


@pytest.mark.parametrize(("width", "mobile"), [(1000, False), (390, True)])
def test_the_sample_report_shows_its_numbers_and_charts(browser: Chromium, page: Path,
                                                         width: int, mobile: bool,
                                                         tmp_path: Path) -> None:
    browser.open(page.as_uri(), width, mobile=mobile)
    seen = browser.evaluate(SEEN)
    assert (seen["read"], seen["valid"], seen["invalid"], seen["unverified"]) == \
        ("400", "329", "71", "0")
    # One bar per code, field and domain, each with a width a person can see.
    assert seen["codeBars"] == 6 and seen["fieldBars"] == 8 and seen["domainBars"] == 15
    assert seen["stack"] == 2  # valid and invalid (no unverified rows: a zero-width part)
    assert "1003" in seen["total1003"] and "31" in seen["total1003"]
    for text in ("Failures by code", "Reasons", "List-hygiene warnings", "Timings",
                 "Options of the run", "got …", "MX checks were off"):
        assert text in seen["body"], text
    # Readable at this width: nothing wider than the screen, nothing run, nothing fetched.
    assert seen["scrollWidth"] <= seen["width"]
    assert seen["scripts"] == 0 and seen["external"] == []
    assert browser.problems() == []
    png = browser.screenshot()
    (tmp_path / f"report-{width}.png").write_bytes(png)
    # The charts are on the screen, in the page's colours.
    assert _pixels(png, GREEN) > 2000 and _pixels(png, RED) > 2000
    assert _pixels(png, BLUE) > 2000


def test_the_console_check_hears_a_page_that_fails(browser: Chromium, tmp_path: Path) -> None:
    # The check above would pass on a deaf browser; this page logs an error and fetches what
    # is not there.
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><img src="missing.png"><script>console.error("boom");'
                   "</script>", encoding="utf-8")
    browser.open(bad.as_uri(), 800)
    problems = browser.problems()
    assert any("boom" in p for p in problems), problems
    assert any("missing.png" in p or "ERR_FILE_NOT_FOUND" in p for p in problems), problems
