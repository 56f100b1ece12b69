"""The search page in a real headless Chromium (the distribution's ``chromium`` and
``chromium-driver``), driven by Selenium against a real ``newsearch serve``.

Types a query, sees marked snippets, pages forward, goes back, opens a filter, and checks that
hostile headlines, bodies, links and queries show as text and run nothing. A screenshot of
the results page is saved in ``test-artifacts/`` (``$NEWSEARCH_TEST_ARTIFACTS``).

Outside CI the test is skipped when Chromium is not installed; under CI (``CI`` set) it fails
instead, since ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import REPO
from serving import XSS_TITLE, hostile_corpus, serving

from newsearch.indexer import BuildOptions, build_index

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("NEWSEARCH_TEST_ARTIFACTS", REPO / "test-artifacts"))


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    message = f"{' and '.join(missing)} missing: apt-get install chromium chromium-driver"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the browser test: {message}")
    pytest.skip(message)


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("browser")
    corpus = hostile_corpus(root / "corpus")
    build_index([corpus], root / "index", BuildOptions(), embedder=embedder)
    with serving(root / "index", "--timeout", "300") as srv:
        srv.get("/search?q=warm+up&k=1")  # load the query encoder before the browser waits
        yield srv


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="newsearch-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1100",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(300)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def hit_ids(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    return [
        a.get_attribute("data-article")
        for a in driver.find_elements(By.CSS_SELECTOR, "article.hit")
    ]


def no_script_ran(driver) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    assert driver.execute_script("return window.__pwned === undefined")
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018


def test_search_page_query_marks_paging_back_and_filter(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(server.base + "/")
    box = browser.find_element(By.NAME, "q")
    box.send_keys("ceasefire talks government")
    box.send_keys(Keys.ENTER)
    summary = browser.find_element(By.ID, "summary")
    assert "ceasefire talks government" in summary.text
    first_page = hit_ids(browser)
    assert len(first_page) == 10
    marks = [m.text.lower() for m in browser.find_elements(By.TAG_NAME, "mark")]
    assert marks and {m.rstrip("s") for m in marks} & {"ceasefire", "talk", "government"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACTS / "serve-results.png"))

    # page forward: ranks 11-20, none of page 1, on the same generation
    generation = parse_qs(urlsplit(browser.find_element(By.ID, "next").get_attribute("href")).query)
    browser.find_element(By.ID, "next").click()
    assert "page=2" in browser.current_url and generation["g"][0] in browser.current_url
    second_page = hit_ids(browser)
    assert second_page and not set(second_page) & set(first_page)
    ranks = [
        a.get_attribute("data-rank") for a in browser.find_elements(By.CSS_SELECTOR, "article.hit")
    ]
    assert ranks[0] == "11"

    # the back button returns to page 1 as it was
    browser.back()
    assert "page=2" not in browser.current_url
    assert hit_ids(browser) == first_page
    assert browser.find_element(By.NAME, "q").get_attribute("value") == "ceasefire talks government"

    # open a filter: one category, every hit in it, state in the URL
    facet = browser.find_element(By.CSS_SELECTOR, "#facet-category li a")
    category = facet.text
    facet.click()
    assert parse_qs(urlsplit(browser.current_url).query)["category"] == [category]
    metas = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "article.hit .meta")]
    assert metas and all(m.startswith(category) for m in metas)
    chosen = browser.find_element(By.CSS_SELECTOR, "#facet-category li.chosen a")
    assert chosen.text == category
    browser.back()
    assert "category=" not in browser.current_url and hit_ids(browser) == first_page

    # mode switch keeps the query
    browser.find_element(By.LINK_TEXT, "bm25").click()
    assert "mode=bm25" in browser.current_url and hit_ids(browser)
    no_script_ran(browser)


def test_hostile_text_and_query_show_literally_and_run_nothing(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    query = '<script>window.__pwned="q"</script><img src=x onerror="window.__pwned=5"> zorblax'
    browser.get(server.base + "/")
    box = browser.find_element(By.NAME, "q")
    box.send_keys(query)
    box.send_keys(Keys.ENTER)
    assert browser.find_element(By.ID, "shown-query").text == query
    hit = browser.find_element(By.CSS_SELECTOR, 'article.hit[data-article="xss-1"]')
    assert XSS_TITLE.replace('"', "") in hit.find_element(By.TAG_NAME, "h3").text.replace('"', "")
    assert "<script>" in hit.text and "onerror" in hit.text
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []
    assert browser.find_elements(By.CSS_SELECTOR, "script") == []
    hrefs = [a.get_attribute("href") or "" for a in browser.find_elements(By.TAG_NAME, "a")]
    assert hrefs and not [h for h in hrefs if h.lower().startswith(("javascript:", "data:"))]
    # the hostile article's javascript: URL is not a link: its title links to the JSON view
    title_link = hit.find_element(By.CSS_SELECTOR, "h3 a").get_attribute("href")
    assert title_link == server.base + "/articles/xss-1"
    no_script_ran(browser)
    # following every link on the page runs nothing either
    for href in sorted(set(hrefs))[:15]:
        browser.get(href)
        no_script_ran(browser)


def test_facet_counts_and_a_sentence_matched_by_meaning(server, browser):
    """Issue 17: counts over all matching stories beside the filters, months as date-range
    links, and the sentence matched by meaning underlined rather than highlighted."""
    from selenium.webdriver.common.by import By

    browser.get(server.base + "/?q=dock+labour+stoppage&mode=dense")
    counts = browser.find_elements(By.CSS_SELECTOR, "#facet-category .count")
    assert counts and all(re.fullmatch(r"\(\d+\)", c.text) for c in counts)
    assert "matching stor" in browser.find_element(By.ID, "facet-note").text
    semantic = browser.find_elements(By.CSS_SELECTOR, "mark.semantic")
    assert semantic and semantic[0].text.strip()
    style = "return getComputedStyle(arguments[0])"
    border = browser.execute_script(style + ".borderBottomStyle;", semantic[0])
    background = browser.execute_script(style + ".backgroundColor;", semantic[0])
    assert border == "solid" and background in ("rgba(0, 0, 0, 0)", "transparent")
    month = browser.find_element(By.CSS_SELECTOR, "#facet-month li a")
    value = month.text
    month.click()
    query = parse_qs(urlsplit(browser.current_url).query)
    assert query["since"] == [value] and query["until"] == [value]
    no_script_ran(browser)
