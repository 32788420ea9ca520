"""Keep-alive connections for the local AWS, as AWS's endpoints keep them.

AWS's service endpoints answer HTTP/1.1 and keep the connection open for the next request;
botocore's connection pool (urllib3) is built on that. werkzeug's development server closes
every connection after one answer (``Connection: close``): a client then opens a new TCP
connection for every call, and the server starts a new thread for each. Under load that cost
lands on both sides and is not AWS's (a benchmark of the operator measured it).

werkzeug closes because, after each answer, it drains whatever is left on the socket so that
an unread request body does not become the next request line; with keep-alive that drain
would swallow the client's next request. ``KeepAliveHandler`` reads the request's body whole
(its ``Content-Length``) before the application runs and gives it the body from memory; the
drain then finds nothing of the socket's to read, and the connection stays open without
``Connection: close``. Requests this cannot frame that way (a chunked body, ``Expect:
100-continue``) are served as werkzeug does and close their connection. A connection with no
request for ``IDLE_SECONDS`` is closed, as AWS closes idle ones; an injected outage still
resets its connection (``faults``). Every connection sends without Nagle's delay
(``TCP_NODELAY``): an answer goes out in two writes, and on a connection kept open the second
would wait for the client's delayed acknowledgement of the first (40 ms on Linux).
"""

from __future__ import annotations

import io
from typing import Any

from moto.moto_server.werkzeug_app import MotoRequestHandler

__all__ = ["IDLE_SECONDS", "KeepAliveHandler"]

IDLE_SECONDS = 60


class KeepAliveHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_SECONDS  # socketserver: the socket's timeout between requests too
    # TCP_NODELAY on every connection (socketserver sets it in ``setup``). werkzeug writes an
    # answer's headers and its body in two sends; on a connection kept open, Nagle's algorithm
    # holds the body until the client acknowledges the headers, and the client delays that
    # acknowledgement (40 ms on Linux): every call on a kept-alive connection took at least
    # 40 ms, whatever it cost to serve. A closed connection flushed at once, which is why
    # werkzeug's one-request connections never showed it.
    disable_nagle_algorithm = True

    def run_wsgi(self) -> None:
        if not self._framed():
            self._closing = True
            super().run_wsgi()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return
        self._closing = False
        socket_file = self.rfile
        self.rfile = io.BytesIO(body)
        try:
            super().run_wsgi()
        finally:
            self.rfile = socket_file

    def send_header(self, keyword: str, value: str) -> None:
        if (
            keyword.lower() == "connection"
            and value.lower() == "close"
            and not getattr(self, "_closing", True)
        ):
            return  # werkzeug's unconditional close: this request's body is read whole
        super().send_header(keyword, value)

    def log_error(self, format: str, *args: Any) -> None:
        if format.startswith("Request timed out"):
            return  # an idle connection closed, not an error
        super().log_error(format, *args)

    def _framed(self) -> bool:
        """Whether the request's body is framed by Content-Length alone (or absent)."""
        headers: Any = self.headers
        if "chunked" in str(headers.get("Transfer-Encoding", "")).lower():
            return False
        if str(headers.get("Expect", "")).lower().strip(" \t") == "100-continue":
            return False
        length = headers.get("Content-Length")
        return length is None or str(length).strip().isdigit()
