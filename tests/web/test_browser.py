"""The pages in a real browser: the list of real scored curves, a filter, an object's plots, a label that changes the
list, and /docs rendered from local files only.

``LCAD_SCREENSHOTS=DIR`` also saves screenshots of both pages there (how ``docs/*.png`` were made).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest

pytest.importorskip("selenium", reason="browser tests need selenium: pip install -e '.[dev]'")

from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

from service import crud  # noqa: E402
from service.db import get_sessionmaker  # noqa: E402

from .conftest import N_CURVES  # noqa: E402


def _rows(browser) -> list:
    return browser.find_elements(By.CSS_SELECTOR, "#ranked tr.object-row")


def _resources(browser) -> list[str]:
    return browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")


def _wait_for_page(browser, url_part: str) -> None:
    """Wait for the page a click opened: its URL, then its document fully loaded."""
    WebDriverWait(browser, 10).until(lambda b: url_part in b.current_url
                                     and b.execute_script("return document.readyState") == "complete")


def _screenshot(browser, name: str) -> None:
    folder = os.environ.get("LCAD_SCREENSHOTS")
    if folder:
        size = browser.get_window_size()
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(size["width"], height + 200)  # the whole page, not just the first screen
        browser.save_screenshot(str(Path(folder) / name))
        browser.set_window_size(size["width"], size["height"])


def test_list_shows_one_row_per_scored_object_with_a_thumbnail(browser, live_url):
    browser.get(live_url + "/")
    rows = _rows(browser)
    assert len(rows) == N_CURVES
    scores = [float(r.find_elements(By.TAG_NAME, "td")[1].text) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert all(r.find_elements(By.CSS_SELECTOR, "svg.thumb circle") for r in rows)
    assert all(r.find_elements(By.TAG_NAME, "td")[3].text.endswith("(given)") for r in rows)
    assert all(r.get_attribute("data-object-id").startswith(("1", "2", "3")) for r in rows)  # CRTS ids
    assert all(name.startswith(live_url) for name in _resources(browser)), "a page asset came from another host"
    _screenshot(browser, "page_list.png")


def test_a_class_filter_narrows_the_list(browser, live_url):
    browser.get(live_url + "/")
    classes = [r.find_elements(By.TAG_NAME, "td")[4].text for r in _rows(browser)]
    chosen = max(set(classes), key=classes.count)
    Select(browser.find_element(By.NAME, "predicted_class")).select_by_visible_text(chosen)
    browser.find_element(By.ID, "apply-filters").click()
    _wait_for_page(browser, "predicted_class=")
    narrowed = [r.find_elements(By.TAG_NAME, "td")[4].text for r in _rows(browser)]
    assert narrowed == [chosen] * classes.count(chosen)
    assert len(narrowed) < N_CURVES


def test_object_page_shows_its_plots_terms_history_and_neighbours(browser, live_url):
    browser.get(live_url + "/")
    first = _rows(browser)[0]
    object_id = first.get_attribute("data-object-id")
    first.find_element(By.TAG_NAME, "a").click()
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "fig-folded"))
    assert object_id in browser.find_element(By.TAG_NAME, "h1").text
    for figure in ("fig-raw", "fig-folded", "fig-posterior", "fig-history"):
        width = browser.execute_script(f"return document.getElementById('{figure}').naturalWidth")
        assert width > 100, f"{figure} did not render"
    terms = browser.find_element(By.ID, "terms").text
    assert "ias" in terms and "entropy" in terms
    neighbours = browser.find_elements(By.CSS_SELECTOR, "#neighbours tr.object-row")
    assert 0 < len(neighbours) <= 6
    assert object_id not in [n.get_attribute("data-object-id") for n in neighbours]
    distances = [float(n.find_elements(By.TAG_NAME, "td")[-1].text) for n in neighbours]
    assert distances == sorted(distances)
    _screenshot(browser, "page_object.png")


def test_a_posted_label_shows_on_the_object_and_changes_the_list(browser, live_url, live_settings):
    with get_sessionmaker(live_settings.db_url)() as session:
        _row, key = crud.create_api_key(session=session, name="vetter", scopes=["read", "label"])
    browser.get(live_url + "/")
    object_id = _rows(browser)[-1].get_attribute("data-object-id")
    browser.get(f"{live_url}/objects/{quote(object_id)}")
    Select(browser.find_element(By.ID, "label-kind")).select_by_value("artefact")
    browser.find_element(By.ID, "label-note").send_keys("satellite trail")
    browser.find_element(By.ID, "label-key").clear()  # the page pre-fills the last key used in this browser
    browser.find_element(By.ID, "label-key").send_keys(key)
    browser.find_element(By.ID, "label-submit").click()
    # The page reloads after the post: an element found while the old document unloads goes stale, which Chrome
    # reports either as a stale reference or as a node that "does not belong to the document"; both mean look again.
    WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda b: "satellite trail" in b.find_element(By.ID, "labels").text)
    assert "vetter" in browser.find_element(By.ID, "labels").text

    browser.get(live_url + "/?label=artefact")
    assert [r.get_attribute("data-object-id") for r in _rows(browser)] == [object_id]
    browser.get(live_url + "/?label=unlabelled")
    assert len(_rows(browser)) == N_CURVES - 1


def test_docs_render_from_local_files_only(browser, live_url):
    browser.get(live_url + "/docs")
    WebDriverWait(browser, 20).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".swagger-ui .info .title"))
    assert "lcad" in browser.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text
    assert browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")  # the endpoints are listed
    assert all(name.startswith(live_url) for name in _resources(browser))


@pytest.mark.parametrize("path", ["/", "/docs"])
def test_pages_load_no_asset_from_another_host(browser, live_url, path):
    browser.get(live_url + path)
    # Assets only (scripts, styles, icons, images, frames); an <a href> to another site loads nothing.
    sources = browser.execute_script("return [...document.querySelectorAll('script[src],link[href],img[src],iframe')]"
                                     ".map(e => e.getAttribute('src') || e.getAttribute('href'))")
    assert sources and not [s for s in sources if s.startswith(("http:", "https:", "//"))]


def test_the_ranking_learnt_from_labels_sinks_objects_marked_artefact(browser, live_url, live_settings):
    import httpx

    with get_sessionmaker(live_settings.db_url)() as session:
        _row, key = crud.create_api_key(session=session, name="vetter", scopes=["read", "label"])
    browser.get(live_url + "/")
    Select(browser.find_element(By.ID, "ranking")).select_by_value("feedback")
    browser.find_element(By.ID, "apply-filters").click()
    _wait_for_page(browser, "ranking=feedback")
    before = [r.get_attribute("data-object-id") for r in _rows(browser)]
    assert len(before) == N_CURVES and "re-ranked score" in browser.find_element(By.ID, "ranked").text
    for object_id in before[:3]:
        answer = httpx.post(f"{live_url}/objects/{quote(object_id)}/labels", json={"kind": "artefact"},
                            headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 201
    browser.refresh()
    after = [r.get_attribute("data-object-id") for r in _rows(browser)]
    assert sorted(after) == sorted(before)
    assert all(after.index(o) > before.index(o) for o in before[:3]), "labelled artefacts did not sink"
