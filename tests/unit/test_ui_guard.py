"""Who may talk to `kubectl sagemeter ui`'s server: the rule as a table."""

from __future__ import annotations

import pytest

from sagemeter.cli.ui.guard import Guard

GUARD = Guard(port=8765, token="s3cret-token")
OWN = {"Host": "127.0.0.1:8765"}
CHANGE = {
    **OWN,
    "Origin": "http://127.0.0.1:8765",
    "X-Sagemeter-Token": "s3cret-token",
    "Content-Type": "application/json",
}
PATH = "/api/endpoints/team-a/falcon/extend"


@pytest.mark.parametrize(
    ("method", "path", "headers", "query_token", "refusal"),
    [
        # The page, its assets and its event stream.
        ("GET", "/", OWN, "s3cret-token", None),
        ("GET", "/", {"Host": "localhost:8765"}, "s3cret-token", None),
        ("GET", "/", OWN, None, "no valid token"),
        ("GET", "/", OWN, "s3cret-tokem", "no valid token"),
        ("GET", "/api/events", OWN, None, "no valid token"),
        ("GET", "/api/events", OWN, "s3cret-token", None),
        ("GET", "/static/app.js", OWN, None, None),
        # DNS rebinding: the right token on a foreign Host.
        ("GET", "/", {"Host": "evil.example:8765"}, "s3cret-token", "Host 'evil.example:8765'"),
        ("GET", "/static/app.js", {"Host": "evil.example:8765"}, None, "Host"),
        ("GET", "/", {"Host": "127.0.0.1:9999"}, "s3cret-token", "Host"),
        ("GET", "/", {}, "s3cret-token", "Host None"),
        # Changes.
        ("POST", PATH, CHANGE, None, None),
        ("POST", PATH, {**CHANGE, "Host": "evil.example:8765"}, None, "Host"),
        ("POST", PATH, {**CHANGE, "Origin": "http://evil.example"}, None, "Origin"),
        ("POST", PATH, {**CHANGE, "Origin": "null"}, None, "Origin 'null'"),
        ("POST", PATH, {k: v for k, v in CHANGE.items() if k != "Origin"}, None, "Origin None"),
        (
            "POST",
            PATH,
            {k: v for k, v in CHANGE.items() if k != "X-Sagemeter-Token"},
            None,
            "X-Sagemeter-Token",
        ),
        # The token in the URL is for reading: a change needs it in the header.
        (
            "POST",
            PATH,
            {k: v for k, v in CHANGE.items() if k != "X-Sagemeter-Token"},
            "s3cret-token",
            "X-Sagemeter-Token",
        ),
        ("POST", PATH, {**CHANGE, "X-Sagemeter-Token": ""}, None, "X-Sagemeter-Token"),
        ("POST", PATH, {**CHANGE, "Content-Type": "text/plain"}, None, "application/json"),
        ("POST", PATH, {**CHANGE, "Content-Type": "application/json; charset=utf-8"}, None, None),
        # Nothing else is spoken.
        ("OPTIONS", PATH, CHANGE, None, "method OPTIONS"),
        ("PUT", PATH, CHANGE, None, "method PUT"),
        ("DELETE", PATH, CHANGE, None, "method DELETE"),
    ],
)
def test_refusal(
    method: str,
    path: str,
    headers: dict[str, str],
    query_token: str | None,
    refusal: str | None,
) -> None:
    said = GUARD.refusal(method, path, headers, query_token)
    if refusal is None:
        assert said is None
    else:
        assert said is not None and refusal in said


def test_every_session_has_its_own_token_in_its_url() -> None:
    first, second = Guard(port=1), Guard(port=1)
    assert first.token != second.token and len(first.token) >= 40
    assert first.url() == f"http://127.0.0.1:1/?token={first.token}"
