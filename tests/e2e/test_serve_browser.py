"""The dhr serve web page in a real headless Chromium (the distribution's, via Selenium):
upload requirement groups with weights, see the ranking, explanations and thumbnails."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from dhr_sdk.serve.app import create_app
from tests.serve.servetools import Server, build_world, upload

pytestmark = pytest.mark.slow

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
INSTALL = "apt-get install chromium chromium-driver (make browser does it as root)"


def _browser() -> tuple[str, str]:
    binary = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver = shutil.which("chromedriver")
    if binary is None or driver is None:
        pytest.skip(f"no Chromium and chromedriver on PATH; {INSTALL}")
    return binary, driver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_world(tmp_path_factory.mktemp("serve"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    binary, driver = _browser()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1200,900",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(arg)
    chrome = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver))
    chrome.set_page_load_timeout(60)
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def server(world: dict[str, Path]) -> Iterator[Server]:
    s = Server(create_app([world["served"]]))
    yield s
    s.stop()


def _fill_group(group: WebElement, name: str, weight: str, folder: Path) -> None:
    """Name and weight a requirement group and pick its images (as a file dialog would)."""
    for cls, value in (("name", name), ("weight", weight)):
        field = group.find_element(By.CSS_SELECTOR, f"input.{cls}")
        field.clear()
        field.send_keys(value)
    files = "\n".join(str(p) for p in sorted(folder.glob("*.png")))
    group.find_element(By.CSS_SELECTOR, "input.files").send_keys(files)


def test_page_ranks_and_shows_matches(browser: webdriver.Chrome, server: Server,
                                      world: dict[str, Path]) -> None:
    wait = WebDriverWait(browser, 60)
    browser.get(server.url + "/")
    wait.until(lambda b: "zeros" in b.find_element(By.ID, "served").text)
    _fill_group(browser.find_element(By.CSS_SELECTOR, ".group"), "zeros", "0.9", world["req"])
    browser.find_element(By.ID, "add-group").click()
    groups = browser.find_elements(By.CSS_SELECTOR, ".group")
    assert len(groups) == 2
    _fill_group(groups[1], "ones", "0.1", world["req1"])
    assert "10 images" in groups[0].text and "5 images" in groups[1].text
    browser.find_element(By.ID, "assess").click()
    rows = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#ranking tbody tr"))
    cells = [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert [c[1] for c in cells] == ["zeros", "ones"]

    files, groups_of = upload(world["req"], world["req1"])
    api = server.client.post("/v1/assess", files=files,
                             data={"group": groups_of, "weight": ["0.9", "0.1"]}).json()
    for row, c in zip(cells, api["collections"], strict=True):
        e = c["estimate"]
        assert row[2:5] == [f"{e['count']:.0f}", f"{e['low']:.0f}–{e['high']:.0f}",
                            f"{100 * e['share']:.1f} %"]
        assert row[5] == f"{c['relevance']:.4f}" and row[7] == f"{c['k']}/{c['n']}"

    zeros = browser.find_element(By.CSS_SELECTOR, "section.collection[data-collection=zeros]")
    explanation = zeros.find_elements(By.CSS_SELECTOR, ".explanation li")
    assert [li.text for li in explanation] == api["collections"][0]["explanation"]
    thumbs = zeros.find_elements(By.CSS_SELECTOR, ".thumbs img")
    assert len(thumbs) == len(api["collections"][0]["top_images"]) > 0
    wait.until(lambda b: all(b.execute_script("return arguments[0].complete && "
                                              "arguments[0].naturalWidth > 0", t)
                             for t in thumbs))
    captions = [f.text for f in zeros.find_elements(By.CSS_SELECTOR, ".thumbs figcaption")]
    assert captions[0].startswith(api["collections"][0]["top_images"][0]["image_id"])


def test_page_shows_api_errors(browser: webdriver.Chrome, server: Server,
                               tmp_path: Path) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    browser.get(server.url + "/")
    wait = WebDriverWait(browser, 60)
    browser.find_element(By.ID, "assess").click()
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed() and "at least one requirement image" in error.text
    browser.find_element(By.CSS_SELECTOR, ".group input.files").send_keys(str(broken))
    browser.find_element(By.ID, "assess").click()
    wait.until(lambda b: "unreadable" in b.find_element(By.ID, "error").text)
    assert "uploaded image broken.png is unreadable" in error.text
    assert not browser.find_elements(By.CSS_SELECTOR, "#ranking")
