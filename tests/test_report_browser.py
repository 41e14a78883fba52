"""`raydd results report`'s page in headless Chromium: it loads without console errors, draws every
image, sorts a leaderboard by the clicked column and hides the rows a filter does not match.

Skipped only where /usr/bin/chromium is absent and RAYDD_REQUIRE_BROWSER is unset; CI sets it, so a
missing browser there fails instead of passing unseen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from raydd.cli.main import cli
from raydd.kd_words import kd_word
from raydd.results import load
from report_rows import CONFIGS, write_report_rows
from test_results_support import POOL_SINGLE

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
VISIBLE_ROWS = """const board = Array.from(document.querySelectorAll("div.board"))
  .find((candidate) => candidate.querySelector("h3").textContent === arguments[0]);
return Array.from(board.querySelectorAll("tbody tr:not([hidden])"), (row) =>
  [row.getAttribute("data-method"), row.getAttribute("data-pool_name"), row.getAttribute("data-kd")]);"""


def _browser():
    if not CHROMIUM.exists() and not os.environ.get("RAYDD_REQUIRE_BROWSER"):
        pytest.skip(f"{CHROMIUM} is absent (set RAYDD_REQUIRE_BROWSER=1 to make that a failure)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture(scope="module")
def rows_and_page(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    location = write_report_rows(root)
    out = root / "report.html"
    made = CliRunner().invoke(cli, ["results", "report", location, "--out", str(out)])
    assert made.exit_code == 0, made.output
    return load(location), out


@pytest.fixture(scope="module")
def browser(rows_and_page):
    driver = _browser()
    driver.get(rows_and_page[1].as_uri())
    yield driver
    driver.quit()


def _expected_order(rows, ipc: int, student: str | None, descending: bool) -> list[list[str]]:
    """The leaderboard's rows sorted by one student's mean accuracy (by the mean over students
    when `student` is None), computed from the rows."""
    cells = rows[(rows["ipc"] == ipc) & (rows["student"] == student if student else rows["ipc"] == ipc)]
    per_student = cells.groupby(["method", "pool_name", "kd", "student"])["test_acc"].mean()
    means = per_student.groupby(["method", "pool_name", "kd"]).mean().sort_values(ascending=not descending)
    return [[method, pool, kd_word(kd)] for method, pool, kd in means.index]


def test_the_page_loads_without_console_errors(browser):
    assert browser.title == "raydd results: demo"
    assert [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")] == []


def test_every_image_is_drawn(browser):
    widths = browser.execute_script("return Array.from(document.images, (img) => img.complete && img.naturalWidth);")
    assert len(widths) == 2 + 6 and all(width > 0 for width in widths), widths


def test_clicking_a_header_sorts_the_rows_by_that_column(browser, rows_and_page):
    rows = rows_and_page[0]
    header = browser.find_element("xpath", "//h3[.='digits, ipc 10']/following-sibling::table//th[.='MLP']")
    before = browser.execute_script(VISIBLE_ROWS, "digits, ipc 10")
    assert before == _expected_order(rows, 10, None, True) != _expected_order(rows, 10, "MLP", True)  # a real reorder
    header.click()
    assert browser.execute_script(VISIBLE_ROWS, "digits, ipc 10") == _expected_order(rows, 10, "MLP", True)
    assert header.get_attribute("aria-sort") == "descending"
    header.click()
    assert browser.execute_script(VISIBLE_ROWS, "digits, ipc 10") == _expected_order(rows, 10, "MLP", False)
    assert browser.execute_script(VISIBLE_ROWS, "digits, ipc 1") == _expected_order(rows, 1, None, True)  # untouched


def test_filters_hide_the_rows_that_do_not_match(browser):
    from selenium.webdriver.support.ui import Select

    method = Select(browser.find_element("css selector", "select[data-key='method']"))
    method.select_by_value("dm")
    for title in ("digits, ipc 1", "digits, ipc 10"):
        assert sorted(browser.execute_script(VISIBLE_ROWS, title)) == [["dm", POOL_SINGLE, kd] for kd in ("off", "on")]
    method.select_by_value("")
    text = browser.find_element("id", "filter-text")
    text.send_keys("convnetw64")  # any case; only the mixed pool's name holds it
    expected = [[m, p, kd] for m, p in CONFIGS if "ConvNetW64" in p for kd in ("off", "on")]
    assert sorted(browser.execute_script(VISIBLE_ROWS, "digits, ipc 1")) == sorted(expected)
    assert "2 of 6 rows shown" in browser.find_element("css selector", "p.shown").text
    text.clear()
    text.send_keys(" ")  # an input event with nothing to match: every row again
    assert len(browser.execute_script(VISIBLE_ROWS, "digits, ipc 1")) == 6


def test_a_missing_browser_skips_only_where_it_is_not_required(monkeypatch, tmp_path):
    import test_report_browser

    monkeypatch.setattr(test_report_browser, "CHROMIUM", tmp_path / "chromium")
    monkeypatch.delenv("RAYDD_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception):
        test_report_browser._browser()
    monkeypatch.setenv("RAYDD_REQUIRE_BROWSER", "1")
    with pytest.raises(Exception) as raised:  # selenium cannot start a browser that is not there
        test_report_browser._browser()
    assert not isinstance(raised.value, pytest.skip.Exception)
