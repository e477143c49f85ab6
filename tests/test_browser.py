"""Every page of the built book in headless Chromium, as a reader meets it.

Needs ``_build/html`` (``jupyter-book build .``), Debian's ``chromium``, the Python package
``playwright`` and MathJax 3 from npm in ``.ci/node`` (``.ci/run`` installs all three). The
page asks a CDN for MathJax; the test serves it from the local copy and refuses every other
outside request, so it runs offline. Screenshots (1280 and 390 px wide) go to
``_build/screenshots``. Without those tools the test is skipped with the reason, or fails
where ``REGAN_BROWSER_REQUIRED=1`` (as in ``.ci/run``). ``REGAN_BUILT_BOOK=DIR`` opens the
book built into ``DIR`` instead (and writes the screenshots beside it).

Besides math, images, links and widths, it checks what a reader would meet at once: inline
formulas cut off on a phone, printed lines running past their box, solution code or output in
view before a click, figures without a caption and alt text, and a tap on a solution's bar at
phone width that follows the bar's link instead of opening the solution.
"""

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from regan_tutorial import book

ROOT = Path(__file__).resolve().parent.parent
HTML = Path(os.environ.get("REGAN_BUILT_BOOK") or ROOT / "_build" / "html")
MATHJAX = ROOT / ".ci" / "node" / "node_modules" / "mathjax" / "es5"
SHOTS = HTML.parent / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _missing():
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "the Python package playwright is not installed"
    for ok, what in ((CHROMIUM, "chromium is not installed"), ((HTML / "index.html").exists(), "the book is not built"),
                     (MATHJAX.exists(), "MathJax is not in .ci/node (npm install --prefix .ci/node mathjax@3)")):
        if not ok:
            return what
    return None


reason = _missing()
if reason and os.environ.get("REGAN_BROWSER_REQUIRED") == "1":
    raise RuntimeError(f"the browser test cannot run: {reason}")
pytestmark = pytest.mark.skipif(reason is not None, reason=reason or "")
PAGES = [f"{f}.html" for f in book.toc_files(ROOT)]
# Console errors that come from the book's toolchain, not from the course, each harmless:
UPSTREAM = (
    "net::ERR_FAILED",  # an outside request the test aborts (it runs offline)
    # Sphinx 7.4 emits each inline script added after the builder starts twice; sphinx-thebe's
    # `const THEBE_JS_URL = ...` then throws on the second copy (the first already set it).
    "Identifier 'THEBE_JS_URL' has already been declared",
    "Got invalid theme mode",  # pydata-sphinx-theme on a first visit (empty localStorage): uses auto
)
SLIDER_PAGES = {"book/01_gan_theory.html", "book/02_toy_2d.html", "book/03_mnist_gan.html",
                "book/09_js_regularizer.html"}


@pytest.fixture(scope="module")
def site():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


def open_page(browser, site, path, width, touch=False):
    """The page at ``width`` px (a touch screen if ``touch``), MathJax typeset, with the console
    errors it printed."""
    page = browser.new_page(viewport={"width": width, "height": 900}, has_touch=touch, is_mobile=touch)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def route(r):
        url = r.request.url
        if url.startswith(site):
            return r.continue_()
        found = re.search(r"mathjax@3/es5/(.*)", urlparse(url).path)
        if found and (MATHJAX / found[1]).is_file():
            return r.fulfill(path=str(MATHJAX / found[1]))
        return r.abort()  # offline: nothing else is fetched from outside

    page.route("**/*", route)
    page.goto(site + path, wait_until="load")
    page.wait_for_function("() => !window.MathJax || !MathJax.startup || MathJax.startup.promise", timeout=20000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    return page, errors


# An inline formula that runs past the block it stands in (where the column cuts it off), or
# whose own box clips it without letting it scroll (folded ones too: a reader meets them once the block opens). Named by its TeX source.
MATH_CUT = """() => [...document.querySelectorAll('main mjx-container:not([display="true"])')].filter(m => {
    const box = m.getBoundingClientRect();
    if (box.width === 0) return false;
    const block = m.closest('p, li, td, th, dd, dt, figcaption, div, section').getBoundingClientRect();
    const clips = ['hidden', 'clip'].includes(getComputedStyle(m).overflowX);
    return box.right > block.right + 1 || (m.scrollWidth > m.clientWidth + 8 && clips);
}).map(m => { const item = MathJax.startup.document.getMathItemsWithin(m)[0];
              return item ? item.math.slice(0, 80) : m.closest('p, li').innerText.slice(0, 80); })"""
# A printed output whose lines run past its box, where the reader sees them cut (folded ones too).
OUTPUT_CUT = """() => [...document.querySelectorAll('main div.cell_output pre')]
    .filter(p => p.getBoundingClientRect().width > 0 && p.scrollWidth > p.clientWidth + 1)
    .map(p => p.innerText.split('\\n').sort((a, b) => b.length - a.length)[0].slice(0, 100))"""
CHAPTER_PAGES = [f"{path.relative_to(ROOT).with_suffix('.html').as_posix()}" for path in book.chapter_paths(ROOT)]


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_with_math_images_and_working_links(browser, site, path):
    page, errors = open_page(browser, site, path, 1280)
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = path.replace("/", "_").removesuffix(".html")
    page.screenshot(path=str(SHOTS / f"{name}-1280.png"), full_page=True)
    assert not [e for e in errors if not any(known in e for known in UPSTREAM)], errors
    broken = page.evaluate("() => [...document.images].filter(i => !i.complete || i.naturalWidth === 0)"
                           ".map(i => i.src.slice(0, 80))")
    assert not broken, broken
    text = page.evaluate("() => document.querySelector('main').innerText")
    assert "\\(" not in text and "$$" not in text and "\\begin{" not in text, "untypeset math"
    if page.evaluate("() => document.querySelectorAll('.math, span.math, div.math').length"):
        assert page.evaluate("() => document.querySelectorAll('mjx-container').length") > 0
    wide = page.evaluate("""() => [...document.querySelectorAll('.cell_input pre, main div.highlight pre')]
        .filter(p => !p.closest('.cell_output') && p.scrollWidth > p.clientWidth + 1)
        .map(p => p.innerText.split('\\n').find(l => l.length > 80) || p.innerText.slice(0, 80))""")
    assert not wide, f"code wider than the column: {wide}"
    assert not page.evaluate(OUTPUT_CUT), f"printed lines cut at the output box's edge: {page.evaluate(OUTPUT_CUT)}"
    for href in page.evaluate("() => [...document.querySelectorAll('main a[href]')].map(a => a.href)"):
        url = urlparse(href)
        if href.startswith(site):
            target = HTML / unquote(url.path).lstrip("/")
            assert target.is_file() or (target / "index.html").is_file(), f"broken link {href}"
            if url.fragment and target.suffix == ".html":
                assert f'id="{url.fragment}"' in target.read_text(), f"missing anchor {href}"
    page.close()


@pytest.mark.parametrize("path", PAGES)
def test_page_fits_a_phone(browser, site, path):
    page, _ = open_page(browser, site, path, 390)
    page.screenshot(path=str(SHOTS / f"{path.replace('/', '_').removesuffix('.html')}-390.png"), full_page=False)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390 + 1
    cut = page.evaluate("""() => [...document.querySelectorAll('div.animation')]
        .filter(a => a.scrollWidth > a.parentElement.clientWidth + 1 || a.getBoundingClientRect().right > 391)
        .map(a => a.scrollWidth)""")
    assert not cut, f"a player wider than the phone's column (px): {cut}"
    assert not page.evaluate(MATH_CUT), f"inline formulas cut off at 390 px: {page.evaluate(MATH_CUT)}"
    assert not page.evaluate(OUTPUT_CUT), f"printed lines cut at the output box's edge: {page.evaluate(OUTPUT_CUT)}"
    page.close()


@pytest.mark.parametrize("path", sorted(SLIDER_PAGES))
def test_a_kernel_free_slider_changes_the_figure(browser, site, path):
    page, _ = open_page(browser, site, path, 1280)
    slider = page.locator("input.anim-slider").first
    image = page.locator("img[id^='_anim_img']").first
    before = image.get_attribute("src")
    last = slider.get_attribute("max")
    slider.evaluate(f"s => {{ s.value = {last}; s.dispatchEvent(new Event('input')); }}")
    assert image.get_attribute("src") != before
    page.close()


def test_solutions_are_collapsed_and_open_on_click(browser, site):
    page, _ = open_page(browser, site, "book/01_gan_theory.html", 1280)
    solution = page.locator(".solution.dropdown").first
    body = solution.locator(".solution-content, section").first
    assert not body.is_visible()
    solution.locator("button, .admonition-title, summary").first.click()
    page.wait_for_timeout(500)
    assert body.is_visible()
    page.close()


# Whether each solution code cell can be seen: a folded block keeps its content laid out, at
# height 0 and with visibility hidden (sphinx-togglebutton).
SOLUTION_CELLS_SEEN = """() => [...document.querySelectorAll('div.cell.tag_solution')].map(c =>
    c.checkVisibility({visibilityProperty: true, opacityProperty: true}) && c.getBoundingClientRect().height > 0)"""


@pytest.mark.parametrize("path", CHAPTER_PAGES)
def test_no_solution_code_or_output_shows_before_a_click(browser, site, path):
    """The solution code cells (code and output) are hidden until their solution is opened, and
    opening each solution shows them: the solution's prose, code and output fold together."""
    page, _ = open_page(browser, site, path, 1280)
    seen = page.evaluate(SOLUTION_CELLS_SEEN)
    assert seen and not any(seen), f"{sum(seen)} of {len(seen)} solution cells in view before a click"
    bars = page.locator("div.solution.dropdown:has(div.cell.tag_solution) > .admonition-title")
    assert bars.count() > 0, "no folded solution holds a solution code cell"
    for i in range(bars.count()):
        bars.nth(i).click()
    page.wait_for_timeout(500)
    seen = page.evaluate(SOLUTION_CELLS_SEEN)
    assert all(seen), f"{seen.count(False)} solution cells still hidden after opening every solution"
    page.close()


@pytest.mark.parametrize("path", CHAPTER_PAGES)
def test_a_tap_on_a_solution_bar_at_phone_width_opens_it(browser, site, path):
    """Tapped on its words ("Solution to Exercise 1.1", a link to the exercise), the bar opens the
    solution where it is; the page neither follows the link nor jumps."""
    page, _ = open_page(browser, site, path, 390, touch=True)
    bar = page.locator("div.solution.dropdown > .admonition-title").first
    bar.scroll_into_view_if_needed()
    words = bar.locator("a.reference").first
    box = words.bounding_box() if words.count() else bar.bounding_box()
    before = page.evaluate("() => [location.href, window.scrollY]")
    page.touchscreen.tap(box["x"] + min(box["width"] / 2, 60), box["y"] + box["height"] / 2)
    page.wait_for_timeout(500)
    after = page.evaluate("() => [location.href, window.scrollY]")
    assert after[0] == before[0], f"the tap followed the bar's link to {after[0]}"
    assert abs(after[1] - before[1]) < 100, f"the page jumped from {before[1]} to {after[1]} px"
    content = page.locator("div.solution.dropdown").first.locator("section").first
    assert content.is_visible(), "the tapped solution did not open"
    page.close()


def test_the_keyboard_never_follows_a_solution_bars_link(browser, site):
    """The link in a solution bar's words is out of the tab order, and Enter on it (focused by a
    script or a screen reader) does not jump to the exercise."""
    page, _ = open_page(browser, site, CHAPTER_PAGES[0], 390)
    link = page.locator("div.solution.dropdown > .admonition-title a.reference").first
    assert link.get_attribute("tabindex") == "-1"
    before = page.evaluate("() => location.href")
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_timeout(300)
    assert page.evaluate("() => location.href") == before, "Enter on the bar's words followed its link"
    page.close()


@pytest.mark.parametrize("path", PAGES)
def test_every_figure_has_a_caption_and_alt_text(browser, site, path):
    page, _ = open_page(browser, site, path, 1280)
    bare = page.evaluate("""() => [...document.querySelectorAll('main img')]
        .filter(i => !i.closest('.anim-controls, nav, .navbar-brand, .article-header-buttons'))  // players too
        .filter(i => { const alt = (i.getAttribute('alt') || '').trim();
                       const caption = i.closest('figure')?.querySelector('figcaption')?.innerText.trim();
                       return !alt || /[\\/]|\\.(png|jpe?g|svg|gif)$/i.test(alt) || !caption; })
        .map(i => (i.getAttribute('alt') || i.src).slice(0, 60))""")
    assert not bare, f"{len(bare)} figures without a caption and alt text: {bare[:3]}"
    page.close()
