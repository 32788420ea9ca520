"""Headless Chromium (Debian's, driven through Debian's chromedriver), the page server as a
process, and the page read the way a person reads it: shared by tests/ui and the bench."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from sagemeter_sandbox import Sandbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TESTS_NAMESPACE = "ui-tests"
# Names under .test resolve to this machine inside the browser only: a page of another site
# (attacker.test) and a rebound name (rebound.test) without any DNS server.
RESOLVER_RULES = "MAP *.test 127.0.0.1"


class PageServer:
    """One `kubectl sagemeter ui --no-browser` process and the URL it printed."""

    def __init__(self, sandbox: Sandbox, log_path: Path, *args: str, kubeconfig: Path) -> None:
        self.log_path = log_path
        env = {**os.environ, **sandbox.env(), "KUBECONFIG": str(kubeconfig)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sagemeter.cli.plugin", "ui", "--no-browser", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=log_path.open("ab"),
            text=True,
        )
        first: list[str] = []
        reader = threading.Thread(
            target=lambda: first.append(
                self.process.stdout.readline() if self.process.stdout else ""
            )
        )
        reader.start()
        reader.join(30)
        found = re.search(r"(http://127\.0\.0\.1:(\d+)/\?token=(\S+))", "".join(first))
        if not found:
            self.stop()
            raise AssertionError(f"the UI printed no URL: {first!r}\n{self.log()}")
        self.url, self.port, self.token = found[1], int(found[2]), found[3]
        self.origin = f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def chromium_options(user_data: Path) -> webdriver.ChromeOptions:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        # Headless as root in a closed network: no sandbox, no GPU, and none of the
        # background connections Chromium would otherwise try (and wait for).
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={user_data}",
        f"--host-resolver-rules={RESOLVER_RULES}",
        "--window-size=1600,900",
    ):
        options.add_argument(argument)
    return options


def headless_chromium() -> Iterator[webdriver.Chrome]:
    """One browser with a fresh profile, quit and removed afterwards."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    assert not missing, f"{missing} missing: run `bash hack/install-system-deps.sh`"
    user_data = Path(tempfile.mkdtemp(prefix="sagemeter-chromium-"))
    driver = webdriver.Chrome(
        options=chromium_options(user_data), service=Service(str(CHROMEDRIVER))
    )
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(user_data, ignore_errors=True)


class Page:
    """The page in the browser, read the way a person reads it."""

    def __init__(self, browser: webdriver.Chrome) -> None:
        self.browser = browser

    def open(self, url: str, namespace: str | None = None) -> None:
        self.browser.get(url)
        self.until(
            "the first rows",
            lambda: self.browser.execute_script(
                "return window.sagemeterTimings && window.sagemeterTimings.firstRender"
            ),
        )
        if namespace is not None:
            self.filter_namespace(namespace)

    def filter_namespace(self, namespace: str) -> None:
        select = self.browser.find_element(By.ID, "filter-namespace")
        self.until(
            f"namespace {namespace} offered",
            lambda: select.find_elements(By.CSS_SELECTOR, f'option[value="{namespace}"]'),
        )
        select.find_element(By.CSS_SELECTOR, f'option[value="{namespace}"]').click()

    def until(self, what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
        return WebDriverWait(self.browser, timeout, poll_frequency=0.1).until(
            lambda _: check(), message=f"waiting for {what}"
        )

    def row(self, name: str, namespace: str = TESTS_NAMESPACE) -> WebElement:
        return self.browser.find_element(By.CSS_SELECTOR, f'tr[data-key="{namespace}/{name}"]')

    def rows(self) -> list[WebElement]:
        return [
            r for r in self.browser.find_elements(By.CSS_SELECTOR, "tbody tr") if r.is_displayed()
        ]

    def cell(self, name: str, column: str, namespace: str = TESTS_NAMESPACE) -> str:
        return str(
            self.row(name, namespace).find_element(By.CSS_SELECTOR, f'[data-col="{column}"]').text
        )

    def expiry(self, name: str, namespace: str = TESTS_NAMESPACE) -> str | None:
        time_element = self.row(name, namespace).find_element(By.CSS_SELECTOR, "time")
        return time_element.get_attribute("datetime")

    def click(self, name: str, label: str, namespace: str = TESTS_NAMESPACE) -> None:
        button = self.row(name, namespace).find_element(
            By.CSS_SELECTOR, f'button[data-action="{label}"]'
        )
        self.until(f"{label} enabled", button.is_enabled)
        button.click()

    def result(self, name: str, namespace: str = TESTS_NAMESPACE) -> str:
        return str(self.row(name, namespace).find_element(By.CSS_SELECTOR, "output").text)

    def wait_result(self, name: str, namespace: str = TESTS_NAMESPACE) -> str:
        return str(
            self.until(
                f"{name}'s answer",
                lambda: (text := self.result(name, namespace)) and not text.endswith("…") and text,
            )
        )
