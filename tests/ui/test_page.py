"""The page in a real browser, with the operator running: every endpoint with its phase and a
time left that counts down, and the buttons doing what the plugin's commands do, the page
following each change from the watch, without a reload."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from selenium.webdriver.common.by import By

from sagemeter.cli.table import current_expiry
from sagemeter.core.meter.times import format_time, parse_time
from sagemeter_sandbox.examples import expected_state

from ..integration.conftest import endpoint_object, wait_for
from .browser import Page, PageServer
from .conftest import ARTIFACTS, DEMO_NAMESPACE, ROOT, Cluster

pytestmark = pytest.mark.cluster

EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
DURATION = re.compile(r"^(?:(\d+)d (\d+)h|(?:(\d+)h )?(?:(\d+)m )?(\d+)s)$")


def seconds_left(text: str) -> int:
    """`1h 02m 03s`, `4m 05s`, `7s`, `2d 5h` as the page writes them, in seconds."""
    found = DURATION.match(text)
    assert found, f"not a time left: {text!r}"
    days, day_hours, hours, minutes, seconds = (int(part or 0) for part in found.groups())
    return days * 86400 + day_hours * 3600 + hours * 3600 + minutes * 60 + seconds


def settled(cluster: Cluster) -> bool:
    """Every example where its meter and schedule say it should be (as `make demo` waits),
    its route deployed."""
    items = cluster.items(DEMO_NAMESPACE)
    now = datetime.now(UTC)
    for obj in items:
        status = obj.get("status") or {}
        created = parse_time(obj["metadata"]["creationTimestamp"])
        expected = expected_state(obj["spec"], created, now)
        if (status.get("phase"), status.get("parkedReason")) != (expected.phase, expected.reason):
            return False
        if obj["spec"].get("api") and not status.get("invokeUrl"):
            return False
    return len(items) == len(EXAMPLES)


def test_every_endpoint_with_phase_and_a_countdown(
    cluster: Cluster, page_server: PageServer, page: Page
) -> None:
    """The demo's endpoints, as `make demo` makes them, under a budget: the README's picture."""
    manifests = "\n---\n".join(cluster.prerequisites.manifest(path) for path in EXAMPLES)
    cluster.apply(manifests, DEMO_NAMESPACE)
    wait_for("every example settled", lambda: settled(cluster), timeout=120)
    cluster.sandbox.kubectl_run("apply", "-f", "-", input=json.dumps(BUDGET))
    try:
        wait_for("the budget's spend", lambda: policy_spend(cluster), timeout=30)
        check_every_row(cluster, page_server, page)

        def budget_shown() -> bool:
            # The book fills in as each endpoint is priced: the page follows the policy's
            # status, so the cell and the status agree once both are read after a change.
            spend = policy_spend(cluster)
            budget = page.cell("falcon", "budgets", DEMO_NAMESPACE)
            return budget.startswith(f"demo-budget: ${spend} of $20.00/h")

        wait_for("the page to show the budget's spend", budget_shown, timeout=30)
        check_phase_filter(page, objects_by_phase(cluster))
        check_controls_are_labelled(page)
        page.browser.execute_script("document.activeElement.blur()")
        full_page_screenshot(page, ARTIFACTS / "demo.png")
    finally:
        cluster.sandbox.kubectl_run("delete", "endpointpolicy", "demo-budget", "--wait=false")


# An EndpointPolicy over the demo's namespace: a budget the demo fits in, and the adoption
# the notebook endpoint needs under a policy (SPEC §5).
BUDGET = {
    "apiVersion": "sagemeter.io/v1alpha1",
    "kind": "EndpointPolicy",
    "metadata": {"name": "demo-budget"},
    "spec": {
        "namespaceSelector": {"names": [DEMO_NAMESPACE]},
        "budget": {"usdPerHour": "20.00", "unknownPriceUSDPerHour": "5.00"},
        "adoption": {"endpointNames": ["notebook-*"]},
    },
}


def objects_by_phase(cluster: Cluster) -> dict[str, set[str]]:
    phases: dict[str, set[str]] = {}
    for obj in cluster.items(DEMO_NAMESPACE):
        phases.setdefault(obj["status"]["phase"], set()).add(obj["metadata"]["name"])
    return phases


def check_phase_filter(page: Page, phases: dict[str, set[str]]) -> None:
    select = page.browser.find_element(By.ID, "filter-phase")
    for phase, names in phases.items():
        select.find_element(By.XPATH, f"option[. = '{phase}']").click()
        shown = {row.get_attribute("data-key") for row in page.rows()}
        assert shown == {f"{DEMO_NAMESPACE}/{name}" for name in names}, phase
    select.find_element(By.XPATH, "option[@value = '']").click()
    assert len(page.rows()) == sum(len(names) for names in phases.values())


def check_controls_are_labelled(page: Page) -> None:
    """Keyboard and screen-reader basics: every input and select has a label, every action is
    a button with a name that says which endpoint it acts on, and nothing else is clickable."""
    unlabelled = page.browser.execute_script(
        "return [...document.querySelectorAll('input, select')]"
        ".filter((e) => !e.labels || !e.labels.length || !e.labels[0].textContent.trim())"
        ".map((e) => e.outerHTML)"
    )
    assert unlabelled == []
    for row in page.rows():
        name = row.get_attribute("data-key").split("/")[1]
        for button in row.find_elements(By.TAG_NAME, "button"):
            label = button.get_attribute("aria-label") or button.text
            assert button.text and name in label, label
        group = row.find_element(By.CSS_SELECTOR, "[role=group]")
        assert group.get_attribute("aria-label") == f"Actions for {name}"
    clickable = page.browser.execute_script(
        "return [...document.querySelectorAll('[onclick], a[href], [tabindex]')].length"
    )
    assert clickable == 0


def policy_spend(cluster: Cluster) -> str | None:
    done = cluster.sandbox.kubectl_run("get", "endpointpolicy", "demo-budget", "-o", "json")
    spend = (json.loads(done.stdout).get("status") or {}).get("usdPerHour")
    return spend if spend and float(spend) > 0 else None


def check_every_row(cluster: Cluster, page_server: PageServer, page: Page) -> None:
    page.open(page_server.url, DEMO_NAMESPACE)
    objects = {obj["metadata"]["name"]: obj for obj in cluster.items(DEMO_NAMESPACE)}
    page.until("a row per example", lambda: len(page.rows()) == len(objects))
    for name, obj in objects.items():
        status = obj["status"]
        page.until(
            f"{name}'s phase",
            lambda n=name, s=status: page.cell(n, "phase", DEMO_NAMESPACE) == s["phase"],
        )
        expiry = current_expiry(obj)
        assert page.expiry(name, DEMO_NAMESPACE) == (format_time(expiry) if expiry else None)
        left = page.cell(name, "time", DEMO_NAMESPACE)
        if expiry is None:
            assert left == "never"
        elif expiry > datetime.now(UTC):
            # Rounded down to the second, or to the hour beyond a day.
            resolution = 3600 if "d" in left else 1
            actual = (expiry - datetime.now(UTC)).total_seconds()
            assert -3 <= actual - seconds_left(left) < resolution + 3, (name, left, actual)
        else:
            assert left.startswith("expired ") and left.endswith(" ago"), left
    # falcon's 90-minute meter counts down, second by second, in the browser.
    before = page.cell("falcon", "time", DEMO_NAMESPACE)
    after = page.until(
        "the countdown to move",
        lambda: (text := page.cell("falcon", "time", DEMO_NAMESPACE)) != before and text,
        timeout=5,
    )
    assert 0 < seconds_left(before) - seconds_left(after) <= 3


def full_page_screenshot(page: Page, path: Path) -> None:
    """The whole table in one picture: the window as tall as the page, then back."""
    browser = page.browser
    size = browser.get_window_size()
    chrome = size["height"] - int(browser.execute_script("return window.innerHeight"))
    height = int(
        browser.execute_script(
            "return Math.ceil(document.querySelector('main').getBoundingClientRect().bottom"
            " + window.scrollY)"
        )
    )
    browser.set_window_size(size["width"], height + chrome)
    path.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(path))
    browser.set_window_size(size["width"], size["height"])


def test_extend_tops_up_and_the_row_follows_the_watch(
    cluster: Cluster, page_server: PageServer, page: Page
) -> None:
    cluster.apply(endpoint_object("meter", expiry={"ttl": "2h"}))
    page.open(page_server.url, "ui-tests")
    page.until("meter's row", lambda: page.rows() and page.expiry("meter"))
    page.browser.execute_script("window.stillTheSamePage = true")
    start = current_expiry(cluster.get("meter"))
    assert start is not None

    page.click("meter", "Extend 1h")
    topped = format_time(start + timedelta(hours=1))
    wait_for("spec.expiry.expiresAt", lambda: spec_expiry(cluster, "meter") == topped)
    page.until("the new expiry on the page", lambda: page.expiry("meter") == topped)
    assert page.wait_result("meter").startswith(f"meter: expires at {topped}")

    typed = page.row("meter").find_element(By.CSS_SELECTOR, "input[name=duration]")
    typed.send_keys("30m\n")
    topped = format_time(start + timedelta(hours=1, minutes=30))
    wait_for("the typed top-up", lambda: spec_expiry(cluster, "meter") == topped)
    page.until("the typed top-up on the page", lambda: page.expiry("meter") == topped)

    generation = cluster.get("meter")["metadata"]["generation"]
    typed.send_keys("1h1h\n")
    page.until("the refusal", lambda: "invalid duration '1h1h'" in page.result("meter"))
    assert page.result("meter").startswith("400: ")
    assert cluster.get("meter")["metadata"]["generation"] == generation  # the spec is as it was
    assert spec_expiry(cluster, "meter") == topped
    assert page.browser.execute_script("return window.stillTheSamePage") is True

    # An endpoint without any expiry has no meter to top up: said, and left as it is.
    cluster.apply(endpoint_object("forever"))
    page.until("forever's row", lambda: page.cell("forever", "time") == "never")
    page.click("forever", "Extend 1h")
    assert page.wait_result("forever").startswith("409: forever never expires")
    assert "expiry" not in cluster.get("forever")["spec"]


def spec_expiry(cluster: Cluster, name: str) -> str | None:
    return ((cluster.get(name)["spec"].get("expiry")) or {}).get("expiresAt")


def test_suspend_parks_and_resume_brings_it_back(
    cluster: Cluster, page_server: PageServer, page: Page
) -> None:
    cluster.apply(endpoint_object("switch", expiry={"ttl": "2h"}))
    page.open(page_server.url, "ui-tests")
    page.until(
        "switch in service", lambda: page.rows() and page.cell("switch", "phase") == "InService"
    )

    page.click("switch", "Suspend")
    page.until("switch parked", lambda: page.cell("switch", "phase") == "Parked")
    assert page.cell("switch", "reason") == "Suspended"
    assert cluster.get("switch")["spec"]["suspend"] is True
    assert page.wait_result("switch") == "switch: suspended"

    page.click("switch", "Resume")
    page.until("switch back in service", lambda: page.cell("switch", "phase") == "InService")
    assert cluster.get("switch")["spec"]["suspend"] is False


def test_wake_brings_an_idle_parked_endpoint_back(
    cluster: Cluster, page_server: PageServer, page: Page
) -> None:
    cluster.apply(
        endpoint_object("sleepy", expiry={"ttl": "2h"}, idle={"after": "15m", "gracePeriod": "1s"})
    )
    page.open(page_server.url, "ui-tests")
    endpoint = cluster.wait_phase("sleepy", "InService")["status"]["endpointName"]
    cloudwatch = boto3.client(
        "cloudwatch",
        region_name="us-east-1",
        endpoint_url=cluster.sandbox.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    alarm = f"sagemeter-{endpoint}-idle"
    wait_for(
        "the idle alarm", lambda: cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="nobody called")
    page.until(
        "sleepy parked as idle",
        lambda: (page.cell("sleepy", "phase"), page.cell("sleepy", "reason")) == ("Parked", "Idle"),
    )

    page.click("sleepy", "Wake")
    assert page.wait_result("sleepy").startswith("sleepy: woken at ")
    page.until("sleepy back in service", lambda: page.cell("sleepy", "phase") == "InService")
    assert "sagemeter.io/wake" in cluster.get("sleepy")["metadata"]["annotations"]
