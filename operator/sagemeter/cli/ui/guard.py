"""Who may talk to the page's server: only the page it served, on this machine.

The server listens on 127.0.0.1 and acts with the user's own Kubernetes credentials, so
anything that can make the user's browser send a request to it must be refused:

* **Another web page** the user has open can send requests to 127.0.0.1 (a form POST needs
  no permission). Every request but the static assets needs the session's token, which only
  the URL printed at start (and the page served from it) holds; a change needs it in the
  `X-Sagemeter-Token` header, which no cross-origin page can set without a CORS preflight
  this server never grants.
* **DNS rebinding**: a page from `evil.example` whose name later resolves to 127.0.0.1 is
  same-origin with the server as far as the browser knows, but its requests carry
  `Host: evil.example:<port>`: every request whose Host is not 127.0.0.1 or localhost on
  this port is refused, before anything else.
* **A change** also needs an `Origin` of this server itself and a JSON body.

The token is compared in constant time. `refusal` is the whole rule; the server applies it
to every request before routing.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

TOKEN_HEADER = "X-Sagemeter-Token"
LOOPBACK = "127.0.0.1"
STATIC_PREFIX = "/static/"
CHANGING_METHODS = frozenset({"POST"})
READING_METHODS = frozenset({"GET", "HEAD"})


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Guard:
    """The session's token and the port the server listens on."""

    port: int
    token: str = field(default_factory=new_token)

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset({f"{LOOPBACK}:{self.port}", f"localhost:{self.port}"})

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(f"http://{host}" for host in self.hosts)

    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/?token={self.token}"

    def token_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.token.encode()
        )

    def refusal(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str],
        query_token: str | None,
    ) -> str | None:
        """Why the request is refused, or None when it may go on.

        `headers` are the request's (case-insensitive keys), `query_token` the `token`
        query parameter, if any.
        """
        host = headers.get("Host")
        if host not in self.hosts:
            return f"Host {host!r} is not this server (only {LOOPBACK}:{self.port})"
        if method in READING_METHODS:
            if path.startswith(STATIC_PREFIX):
                return None
            if not self.token_matches(query_token):
                return "no valid token: open the URL `kubectl sagemeter ui` printed"
            return None
        if method not in CHANGING_METHODS:
            return f"method {method} is not allowed"
        origin = headers.get("Origin")
        if origin not in self.origins:
            return f"Origin {origin!r} is not this server"
        if not self.token_matches(headers.get(TOKEN_HEADER)):
            return f"no valid {TOKEN_HEADER} header"
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return "a change must be sent as application/json"
        return None
