"""A real-browser check of the built book (headless Debian Chromium driven by Playwright).

It opens the index and every chapter page of ``_build/html`` from a local HTTP server and
checks what a reader sees: math typeset by the bundled MathJax (no network), every image
loaded, no error or traceback printed by a cell, and no request leaving the machine.
Run ``make book`` first (``make test`` does).
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path

import pytest

from tests.test_notebook_checks import ROOT, toc_files

pytestmark = pytest.mark.browser

HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ERROR_MARKERS = (
    "Traceback (most recent call last)",
    "IProgress not found",
    "Error:",
    "Warning:",
)


def pages() -> list[str]:
    """URL paths of the index and of every page in _toc.yml."""
    return ["index.html"] + [str(f.relative_to(ROOT).with_suffix(".html")) for f in toc_files()]


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").exists():
        pytest.fail(f"{HTML / 'index.html'} is missing: build the book first (make book)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (make test does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def open_page(browser, url: str):
    """Open ``url``; return the page and the list of requests that failed or left the host."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    host = url.split("/")[2]
    page.on(
        "request",
        lambda r: (
            problems.append(f"external request {r.url}")
            if r.url.split("/")[2:3] != [host] and not r.url.startswith("data:")
            else None
        ),
    )
    page.on("requestfailed", lambda r: problems.append(f"failed request {r.url}"))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status} for {r.url}") if r.status >= 400 else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error {e}"))
    page.goto(url, wait_until="load")
    if url.endswith("/index.html"):  # Jupyter Book's index is a redirect to the root page
        page.wait_for_url("**/book/intro.html")
        page.wait_for_load_state("load")
    return page, problems


# Visible text outside math, code and inputs: the whole page, navigation and margins included
# (the print-only copy of the title is left out: it is not on screen).
VISIBLE_TEXT_JS = """() => {
  const c = document.body.cloneNode(true);
  c.querySelectorAll('pre, code, script, style, mjx-container, .math, input, textarea, .onlyprint')
    .forEach(e => e.remove());
  return c.innerText;
}"""
RAW_TEX = re.compile(r"\\[A-Za-z]{2,}|\$[^$\s][^$\n]*\$|\$\$")


def raw_tex(page) -> list[str]:
    """Fragments of TeX that reached the reader untypeset (e.g. math in a link's text)."""
    return [m.group(0)[:60] for m in RAW_TEX.finditer(page.evaluate(VISIBLE_TEXT_JS))]


def wait_for_mathjax(page) -> None:
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")


@pytest.mark.parametrize("path", pages())
def test_page_renders(server, browser, path):
    page, problems = open_page(browser, f"{server}/{path}")
    try:
        math_elems = page.locator(".math").count()
        if path != "book/bibliography.html":
            assert math_elems > 0, f"{path}: no math on the page"
        if math_elems:
            wait_for_mathjax(page)
            untypeset = page.evaluate(
                "() => [...document.querySelectorAll('.math')]"
                ".filter(e => !e.querySelector('mjx-container')).length"
            )
            assert untypeset == 0, f"{path}: {untypeset} math elements were not typeset"
            assert page.locator("mjx-merror").count() == 0, f"{path}: MathJax reported a TeX error"
        body = page.evaluate(
            "() => { const c = document.querySelector('main').cloneNode(true);"
            " c.querySelectorAll('pre, code, script').forEach(e => e.remove());"
            " return c.innerText; }"
        )
        assert "$$" not in body, f"{path}: raw $$ left in the page"
        leftover = raw_tex(page)
        assert not leftover, f"{path}: raw TeX shown to the reader: {leftover}"
        images = page.evaluate(
            "() => [...document.images].map(i => [i.src, i.complete && i.naturalWidth > 0])"
        )
        broken = [src for src, ok in images if not ok]
        assert not broken, f"{path}: images failed to load: {broken}"
        outputs = page.evaluate(
            "() => [...document.querySelectorAll('.cell_output, .output')].map(e => e.innerText)"
        )
        for text in outputs:
            for marker in ERROR_MARKERS:
                assert marker not in text, f"{path}: a cell printed {marker!r}: {text[:300]}"
        assert page.locator(".output.stderr, .output.traceback, .output.error").count() == 0
        assert not problems, f"{path}: {problems}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / (path.replace("/", "_") + ".png")), full_page=True)
    finally:
        page.context.close()


def chapter_pages() -> list[str]:
    """URL paths of the pages built from notebooks (the chapters)."""
    return [p for p in pages() if Path(p).name.startswith("ch")]


@pytest.mark.parametrize("path", chapter_pages())
def test_chapter_downloads(server, browser, path):
    """The download menu offers the executed notebook (.ipynb) and the source (.md), both served."""
    page, problems = open_page(browser, f"{server}/{path}")
    try:
        links = page.evaluate(
            "() => [...document.querySelectorAll('.dropdown-download-buttons a')].map(a => a.href)"
        )
        stem = Path(path).stem
        for suffix in (".ipynb", ".md"):
            found = [u for u in links if u.endswith(f"{stem}{suffix}")]
            assert found, f"{path}: no {suffix} download in {links}"
            response = page.request.get(found[0])
            assert response.ok, f"{path}: {found[0]} answered HTTP {response.status}"
            if suffix == ".ipynb":
                cells = response.json()["cells"]
                assert any(c.get("outputs") for c in cells), f"{found[0]} has no outputs"
        assert not problems, f"{path}: {problems}"
    finally:
        page.context.close()


def test_the_check_catches_a_broken_page(server, browser, tmp_path):
    """The same checks flag raw math, raw TeX in a link, a broken image and a traceback."""
    bad = HTML / "_browser_check_bad.html"
    bad.write_text(
        "<html><body><aside><a href='#'>The interpolated bound I_\\alpha</a></aside>"
        "<main><p>$$I(X;Y)$$</p><img src='missing.png'>"
        "<div class='cell_output'>Traceback (most recent call last)</div></main></body></html>"
    )
    try:
        page, problems = open_page(browser, f"{server}/{bad.name}")
        body = page.evaluate("() => document.querySelector('main').innerText")
        images = page.evaluate(
            "() => [...document.images].map(i => i.complete && i.naturalWidth > 0)"
        )
        outputs = page.evaluate(
            "() => [...document.querySelectorAll('.cell_output')].map(e => e.innerText)"
        )
        assert "$$" in body
        assert any("\\alpha" in t for t in raw_tex(page)), raw_tex(page)
        assert images == [False]
        assert any(ERROR_MARKERS[0] in t for t in outputs)
        assert any("missing.png" in p for p in problems)
        page.context.close()
    finally:
        bad.unlink()
