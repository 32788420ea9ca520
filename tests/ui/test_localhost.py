"""The page's server on 127.0.0.1 acts with the user's credentials, so every web page the user
opens is a potential attacker. A page of another site cannot make it act (it has no token); a
request with the valid token but a foreign Origin or Host (DNS rebinding) is refused too. The
victim, an endpoint, is checked unchanged after each attack, and the server's log shows the
attacks arrived and were refused."""

from __future__ import annotations

import http.client
import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from ..integration.conftest import endpoint_object, free_port, wait_for
from .browser import TESTS_NAMESPACE, Page, PageServer
from .conftest import Cluster

pytestmark = pytest.mark.cluster

VICTIM = "victim"


def attack_page(target: PageServer) -> str:
    """What a hostile site serves: a form POST (a "simple" request, sent without asking), a
    no-cors fetch, a fetch with a guessed token (needs a preflight this server never grants),
    and an attempt to read the page for its token."""
    action = f"{target.origin}/api/endpoints/{TESTS_NAMESPACE}/{VICTIM}/suspend"
    return f"""<!doctype html><html><head><title>cat pictures</title></head><body>
<form id="form" method="post" action="{action}" enctype="text/plain" target="sink">
  <input name='{{"a":"' value='"}}'>
</form>
<iframe name="sink"></iframe>
<script>
const attempts = [
  fetch("{action}", {{method: "POST", mode: "no-cors", body: "{{}}"}}),
  fetch("{action}", {{method: "POST", body: "{{}}",
    headers: {{"Content-Type": "application/json", "X-Sagemeter-Token": "guessed"}}}}),
  fetch("{target.origin}/").then((r) => r.text()),
];
Promise.allSettled(attempts).then((results) => {{
  window.outcomes = results.map((r) => r.status + ":" + String(r.value || r.reason));
  document.getElementById("form").submit();
  setTimeout(() => {{ document.title = "done"; }}, 500);
}});
</script></body></html>"""


@pytest.fixture
def attacker(page_server: PageServer) -> Iterator[str]:
    """A hostile site on its own origin (attacker.test resolves to 127.0.0.1 in the browser)."""
    html = attack_page(page_server).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: Any) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://attacker.test:{port}"
    finally:
        server.shutdown()
        server.server_close()


def untouched(cluster: Cluster, before: dict[str, Any]) -> None:
    after = cluster.get(VICTIM)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert not after["spec"].get("suspend")


def refusals(server: PageServer) -> list[str]:
    return [line for line in server.log().splitlines() if " refused " in f" {line}"]


def test_a_page_of_another_site_cannot_act(
    cluster: Cluster, page_server: PageServer, page: Page, attacker: str
) -> None:
    cluster.apply(endpoint_object(VICTIM, expiry={"ttl": "2h"}))
    before = cluster.get(VICTIM)
    seen = len(refusals(page_server))

    page.browser.get(f"{attacker}/")
    page.until("the attack to finish", lambda: page.browser.title == "done", timeout=30)
    outcomes = page.browser.execute_script("return window.outcomes")
    # The page could not read the server's answers (nor the page with its token).
    assert outcomes[1].startswith("rejected:"), outcomes
    assert outcomes[2].startswith("rejected:"), outcomes
    # Both simple POSTs (the form and the no-cors fetch) reached the server and were refused;
    # the preflight of the third was refused too.
    wait_for(
        "the server to refuse the attacks",
        lambda: len([r for r in refusals(page_server)[seen:] if f"/{VICTIM}/suspend" in r]) >= 3,
        timeout=10,
    )
    new = [line for line in refusals(page_server)[seen:] if f"/{VICTIM}/suspend" in line]
    assert sum("refused OPTIONS" in line for line in new) == 1, new
    assert sum(f"Origin '{attacker}' is not this server" in line for line in new) == 2, new
    untouched(cluster, before)
    page.open(page_server.url, TESTS_NAMESPACE)  # the victim, as its owner sees it
    page.until("the victim's row", lambda: page.cell(VICTIM, "phase") == "InService")


def request(
    server: PageServer,
    method: str,
    path: str,
    host: str | None = None,
    body: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    """One request with exactly these Host and other headers (as a browser would send them)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest(method, path, skip_host=True)
    connection.putheader("Host", host or f"127.0.0.1:{server.port}")
    for name, value in (headers or {}).items():
        connection.putheader(name, value)
    data = (body or "").encode()
    connection.putheader("Content-Length", str(len(data)))
    connection.endheaders(data)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    try:
        return response.status, json.loads(payload)
    except ValueError:
        return response.status, {"text": payload.decode(errors="replace")}


def test_a_valid_token_with_a_foreign_origin_or_host_is_refused(
    cluster: Cluster, page_server: PageServer, page: Page
) -> None:
    cluster.apply(endpoint_object(VICTIM, expiry={"ttl": "2h"}))
    before = cluster.get(VICTIM)
    path = f"/api/endpoints/{TESTS_NAMESPACE}/{VICTIM}"
    own = f"127.0.0.1:{page_server.port}"
    token = page_server.token
    json_type = {"Content-Type": "application/json"}

    def change(host: str, origin: str | None, headers: dict[str, str]) -> tuple[int, str]:
        sent = {**headers, **({"Origin": origin} if origin else {})}
        status, answer = request(page_server, "POST", f"{path}/suspend", host, "{}", sent)
        return status, str(answer.get("message"))

    with_token = {**json_type, "X-Sagemeter-Token": token}
    cases = [
        # (Host, Origin, headers) -> the refusal
        (own, "http://attacker.test:80", with_token, "Origin 'http://attacker.test:80'"),
        (own, None, with_token, "Origin None"),
        (
            f"rebound.test:{page_server.port}",
            f"http://rebound.test:{page_server.port}",
            with_token,
            f"Host 'rebound.test:{page_server.port}'",
        ),
        (own, f"http://{own}", json_type, "no valid X-Sagemeter-Token"),
        (
            own,
            f"http://{own}",
            {**json_type, "X-Sagemeter-Token": token[:-1] + "x"},
            "no valid X-Sagemeter-Token",
        ),
        (
            own,
            f"http://{own}",
            {"Content-Type": "text/plain", "X-Sagemeter-Token": token},
            "application/json",
        ),
    ]
    for host, origin, headers, reason in cases:
        status, message = change(host, origin, headers)
        assert status == 403 and reason in message, (host, origin, status, message)

    # Reading needs the token as well, and the right Host even with it.
    assert request(page_server, "GET", "/")[0] == 403
    assert request(page_server, "GET", "/api/events")[0] == 403
    rebound = f"rebound.test:{page_server.port}"
    assert request(page_server, "GET", f"/?token={token}", rebound)[0] == 403
    untouched(cluster, before)

    # The same request from the page itself goes through (resume: nothing to change).
    status, answer = request(
        page_server, "POST", f"{path}/resume", None, "{}", {**with_token, "Origin": f"http://{own}"}
    )
    assert (status, answer["message"]) == (200, f"{VICTIM}: not suspended")

    # A rebound name in a real browser: same origin as far as the browser knows, still refused.
    page.browser.get(f"http://{rebound}/?token={token}")
    body = page.browser.find_element(By.TAG_NAME, "body").text
    assert f"Host '{rebound}' is not this server" in body
    untouched(cluster, before)
