"""`kubectl sagemeter ui` in a real browser: headless Chromium from Debian, driven by Selenium
through Debian's chromedriver, against a sandbox with the operator running.

The package has a sandbox of its own, so the demo's endpoints can be made exactly as
`make demo` makes them (`sagemeter_sandbox.examples.prepare` names its AWS resources, once per
sandbox) in the demo's namespace, for the README's screenshot. One operator watches the demo's
namespace and the tests' own; one browser and one page server (with the sandbox's admin
kubeconfig, every namespace) serve every test. Each test leaves a screenshot in
`.artifacts/ui/`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver

from sagemeter_sandbox import Sandbox
from sagemeter_sandbox.examples import Prerequisites, prepare

from ..conftest import running_sandbox
from ..integration.conftest import Operator, wait_for
from .browser import TESTS_NAMESPACE, Page, PageServer, headless_chromium

ROOT = Path(__file__).parents[2]
ARTIFACTS = ROOT / ".artifacts" / "ui"
DEMO_NAMESPACE = "demo"  # as hack/demo.py names it


def _log(message: str) -> None:
    print(f"ui sandbox: {message}", file=sys.stderr, flush=True)


@pytest.fixture(scope="package")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """This package's own sandbox (it replaces the session's for tests/ui)."""
    yield from running_sandbox(tmp_path_factory.mktemp("ui-sandbox"), _log)


@dataclass
class Cluster:
    sandbox: Sandbox
    prerequisites: Prerequisites
    operator: Operator

    def get(self, name: str, namespace: str = TESTS_NAMESPACE) -> dict[str, Any]:
        done = self.sandbox.kubectl_run("get", "mep", name, "-n", namespace, "-o", "json")
        return dict(json.loads(done.stdout))

    def items(self, namespace: str) -> list[dict[str, Any]]:
        done = self.sandbox.kubectl_run("get", "mep", "-n", namespace, "-o", "json")
        return list(json.loads(done.stdout)["items"])

    def apply(self, manifest: str | dict[str, Any], namespace: str = TESTS_NAMESPACE) -> None:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        self.sandbox.kubectl_run("apply", "-n", namespace, "-f", "-", input=text)

    def phase(self, name: str, namespace: str = TESTS_NAMESPACE) -> str | None:
        return (self.get(name, namespace).get("status") or {}).get("phase")

    def wait_phase(
        self, name: str, phase: str, namespace: str = TESTS_NAMESPACE, timeout: float = 60
    ) -> dict[str, Any]:
        return wait_for(
            f"{name} to be {phase}",
            lambda: self.phase(name, namespace) == phase and self.get(name, namespace),
            timeout,
        )


@pytest.fixture(scope="package")
def cluster(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    prerequisites = prepare(sandbox.aws_endpoint_url)
    adopted = "sagemeter-adopted"  # where tag discovery would put what it finds: not watched
    for namespace in (DEMO_NAMESPACE, TESTS_NAMESPACE, adopted):
        sandbox.kubectl_run("create", "namespace", namespace)
    operator = Operator(sandbox, DEMO_NAMESPACE, tmp_path_factory.mktemp("ui") / "operator.log")
    operator.namespaces = [DEMO_NAMESPACE, TESTS_NAMESPACE]
    operator.start(**prerequisites.operator_env(), SAGEMETER_ADOPT_NAMESPACE=adopted)
    try:
        yield Cluster(sandbox, prerequisites, operator)
    finally:
        operator.stop()


@pytest.fixture(scope="package")
def page_server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    """The page for every namespace, with the sandbox's admin kubeconfig."""
    log = tmp_path_factory.mktemp("ui-server") / "ui.log"
    server = PageServer(cluster.sandbox, log, "-A", kubeconfig=cluster.sandbox.kubeconfig)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[webdriver.Chrome]:
    yield from headless_chromium()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Every test leaves what the browser showed at its end in .artifacts/ui/<test>.png (taken
    before any fixture is torn down, so the page still shows what the test saw), failed or not."""
    try:
        return (yield)
    finally:
        browser = item.funcargs.get("browser") if isinstance(item, pytest.Function) else None
        if browser is not None:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(ARTIFACTS / f"{item.name}.png"))


@pytest.fixture
def page(browser: webdriver.Chrome) -> Page:
    return Page(browser)


@pytest.fixture(autouse=True)
def _every_test_has_the_browser(browser: webdriver.Chrome) -> None:
    """Each test of the page is a browser test: its screenshot is kept."""
