"""The explorer page driven in Debian's chromium with Playwright (skipped where missing)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from explore_run import make_explore_run

from meersim.datasets.embeddings import load_embeddings
from meersim.eval.explore import make_server, start_in_thread, url_of
from meersim.eval.explorer import Explorer
from meersim.eval.search import relevance_labels, search

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed")


@pytest.fixture(scope="module")
def page_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    run = make_explore_run(root)
    emb = root / "emb_served"
    shutil.copytree(run["emb"], emb)
    server = make_server(Explorer(emb, fits_dirs=[run["fits_dir"]]), "127.0.0.1", 0)
    start_in_thread(server)
    yield url_of(server), run, emb
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def test_click_shows_the_neighbours_that_search_finds(page_url, browser, tmp_path):
    url, run, _ = page_url
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url)
    page.wait_for_selector("#grid .tile")
    first = page.locator("#grid .tile").first
    crop = int(first.get_attribute("data-crop"))
    first.click()
    page.wait_for_selector("#neighbours .neighbour")
    shown = [int(x) for x in page.locator("#neighbours .neighbour").evaluate_all(
        "els => els.map(e => e.dataset.crop)")]  # fmt: skip
    sims = [float(x) for x in page.locator("#neighbours .neighbour").evaluate_all(
        "els => els.map(e => e.dataset.sim)")]  # fmt: skip
    emb = load_embeddings(run["emb"])
    row = int(np.flatnonzero(emb.crop_ids == crop)[0])
    ref_sim, ref_rows = search(emb.vectors, np.array([row]), 8)
    assert shown == emb.crop_ids[ref_rows[0]].tolist()
    np.testing.assert_allclose(sims, ref_sim[0], atol=1e-5)
    labels = relevance_labels(run["truth"], "dominant_class")
    expected = np.mean(labels[ref_rows[0]] == labels[row])
    assert page.inner_text("#precision").endswith(f"{expected:.3f}")
    page.wait_for_selector("#att-img", state="visible")
    page.wait_for_function("document.getElementById('att-img').naturalWidth > 0")
    page.wait_for_function("[...document.querySelectorAll('#grid img')].slice(0, 12)"
                           ".every(i => i.complete && i.naturalWidth > 0)")  # fmt: skip
    shot = tmp_path / "explore.png"
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 10_000
    page.close()


def test_relabel_survives_a_reload(page_url, browser):
    url, _, emb = page_url
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url)
    page.wait_for_selector("#grid .tile")
    tile = page.locator("#grid .tile").nth(2)
    crop = tile.get_attribute("data-crop")
    tile.click()
    page.wait_for_selector("#relabel:not([hidden])")
    page.click(".relabel[data-label='interesting']")
    page.wait_for_function(
        "document.getElementById('sel-label').textContent.includes('interesting')"
    )
    assert f"{crop},interesting" in (emb / "relabels.csv").read_text()
    page.reload()
    page.wait_for_selector(f"#grid .tile[data-crop='{crop}']")
    assert "interesting" in page.get_attribute(f"#grid .tile[data-crop='{crop}']", "class")
    page.click(f"#grid .tile[data-crop='{crop}']")
    page.wait_for_function(
        "document.getElementById('sel-label').textContent.includes('interesting')"
    )
    # re-ranking with the label puts the crop first
    page.click("#rerank")
    page.wait_for_function(f"document.querySelector('#grid .tile').dataset.crop === '{crop}'")
    page.close()


def test_fits_query_and_a_refused_path(page_url, browser):
    url, run, _ = page_url
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("#grid .tile")
    page.fill("#fits", "/etc/hostname.fits")
    page.click("#fits-go")
    page.wait_for_function("document.getElementById('fits-msg').textContent.includes('outside')")
    page.fill("#fits", str(run["fits"]))
    page.click("#fits-go")
    page.wait_for_function(
        "document.getElementById('fits-msg').textContent.startsWith('neighbours')"
    )
    assert page.locator("#neighbours .neighbour").count() == 8
    page.close()
