"""Browser tests: the SearchExplorer served by Voila and rendered in JupyterLab, driven by
Debian's Chromium through playwright. They type a query, press search, click a result to
re-query, move the top-k slider, and check the DOM (result count, decoded thumbnails,
relevance marks, the metric line). A screenshot per test lands in the pytest tmp dir.

The demo engine (tests/browser_helpers.py) needs no torch: colour/shape image features and
a bag-of-words text encoder projected onto the same axes.
"""
from pathlib import Path

import pytest

from browser_helpers import (DECODED_JS, MARKS_JS, VISIBLE_RESULTS_JS, explorer_notebook, free_port,
                             lab_command, launch_chromium, run_query, server_env, start_server,
                             stop_server, text_of, voila_command, wait_http, wait_results)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

if not Path("/usr/bin/chromium").exists():  # pragma: no cover - CI installs it (.ci/run)
    pytest.skip("chromium not found: apt install chromium (.ci/run installs it)", allow_module_level=True)

N_IMAGES = 96
LOAD_MS = 90_000


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def voila_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("voila")
    nb = explorer_notebook(tmp / "explorer.ipynb", N_IMAGES)
    port, log = free_port(), tmp / "voila.log"
    proc = start_server(voila_command(nb, port), tmp, log, server_env(tmp))
    try:
        wait_http(f"http://127.0.0.1:{port}/", proc, log, timeout=60)
        yield f"http://127.0.0.1:{port}/"
    finally:
        stop_server(proc)


@pytest.fixture
def page(chromium, voila_url, tmp_path, request):
    page = chromium.new_page(viewport={"width": 1100, "height": 900})
    page.goto(voila_url, timeout=LOAD_MS)
    page.wait_for_selector(".mm-search-explorer", timeout=LOAD_MS)
    yield page
    page.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    page.close()


def status(page) -> str:
    return text_of(page, ".mm-status")


def test_text_query_click_to_requery_and_top_k(page, tmp_path):
    # 1. type a query and press search
    run_query(page, "a red circle")
    wait_results(page, 8)
    assert page.evaluate(VISIBLE_RESULTS_JS) == 8
    assert page.evaluate(DECODED_JS)  # every thumbnail decoded (naturalWidth > 0)
    marks = page.evaluate(MARKS_JS)
    assert marks["relevant"] + marks["irrelevant"] == 8 and marks["relevant"] >= 1
    metrics = text_of(page, ".mm-metrics")
    assert "AP" in metrics and "NDCG@8" in metrics and "relevant shown" in metrics
    assert "'a red circle'" in status(page)
    page.screenshot(path=str(tmp_path / "1-text-query.png"))

    # 2. click a result image: it becomes the image query
    page.locator(".mm-result .mm-result-button").nth(2).click()
    page.wait_for_function("() => document.querySelector('.mm-status').innerText.includes('image #')",
                           timeout=20_000)
    wait_results(page, 8)
    assert "image → image" in page.locator(".mm-direction select").input_value()
    assert page.locator("img.mm-query-image").first.evaluate("i => i.naturalWidth > 0")
    assert "AP" in text_of(page, ".mm-metrics")
    page.screenshot(path=str(tmp_path / "2-image-query.png"))

    # 3. move the top-k slider with the keyboard: 8 -> 10 results
    handle = page.locator(".mm-topk .noUi-handle").first
    handle.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    wait_results(page, 10)
    assert "Top 10 images" in status(page)


def test_bad_query_and_image_to_text(page):
    run_query(page, "zebra giraffe")
    page.wait_for_function("() => document.querySelector('.mm-status').innerText.includes('None of the words')",
                           timeout=20_000)
    assert page.evaluate(VISIBLE_RESULTS_JS) == 0
    assert "Traceback" not in page.content()
    run_query(page, "a blue square")
    wait_results(page, 8)
    page.locator(".mm-direction select").select_option("image → text")
    page.wait_for_function("() => document.querySelector('.mm-status').innerText.includes('captions for image #')",
                           timeout=20_000)
    visible_rows = ("() => Array.from(document.querySelectorAll('.mm-result-text'))"
                    ".filter(e => e.offsetParent !== null && e.querySelector('.mm-mark')).length")
    page.wait_for_function(f"() => ({visible_rows})() === 8", timeout=20_000)
    assert page.evaluate(VISIBLE_RESULTS_JS) == 0


def test_jupyterlab_renders_the_explorer(chromium, tmp_path):
    nb = explorer_notebook(tmp_path / "explorer.ipynb", 48)
    port, log = free_port(), tmp_path / "lab.log"
    proc = start_server(lab_command(tmp_path, port), tmp_path, log, server_env(tmp_path))
    page = None
    try:
        wait_http(f"http://127.0.0.1:{port}/lab", proc, log, timeout=60)
        page = chromium.new_page(viewport={"width": 1200, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/lab/tree/{nb.name}", timeout=LOAD_MS)
        page.wait_for_selector("#jp-main-dock-panel", timeout=LOAD_MS)  # the lab shell
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=LOAD_MS)
        page.wait_for_function("() => { const s = document.querySelector('#jp-main-statusbar');"
                               " return s && s.innerText.includes('Idle'); }", timeout=LOAD_MS)
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.keyboard.press("Shift+Enter")
        page.wait_for_selector(".mm-search-explorer", timeout=LOAD_MS)
        assert page.locator(".mm-search-explorer .mm-query input").count() == 1
    finally:
        if page is not None:
            page.screenshot(path=str(tmp_path / "jupyterlab.png"))
            page.close()
        stop_server(proc)
