"""The local AWS keeps connections open between requests, as AWS's endpoints do
(`sagemeter_sandbox.keepalive`): botocore's pool reuses one connection for a run of calls; a
body the application never reads does not become the next request; a request the server
cannot frame by its Content-Length still gets its answer, on a connection that then closes;
an injected outage still resets the connection it lands on; an answer is not held back for the
client's acknowledgement (TCP_NODELAY)."""

from __future__ import annotations

import http.client
import logging
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import boto3
import pytest
from werkzeug.serving import make_server

from sagemeter_sandbox.control import FaultClient
from sagemeter_sandbox.keepalive import KeepAliveHandler

from .test_localaws import _start_server, _stop_server

pytestmark = [pytest.mark.localaws, pytest.mark.timeout(60)]

LIST = {
    "X-Amz-Target": "SageMaker.ListEndpoints",
    "Content-Type": "application/x-amz-json-1.1",
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sagemaker/aws4_request,"
        " SignedHeaders=host, Signature=0"
    ),
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    proc, url = _start_server()
    yield url
    assert _stop_server(proc) == 0


def connection(url: str) -> http.client.HTTPConnection:
    host, port = url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=10)


def ask(conn: http.client.HTTPConnection, body: bytes = b"{}", **headers: str) -> Any:
    conn.request("POST", "/", body=body, headers={**LIST, **headers})
    response = conn.getresponse()
    response.read()
    return response


def test_one_connection_serves_a_run_of_calls(server: str) -> None:
    conn = connection(server)
    answers = [ask(conn) for _ in range(5)]
    assert [(a.status, a.getheader("Connection")) for a in answers] == [(200, None)] * 5
    assert conn.sock is not None  # never closed by the server meanwhile


def test_botocore_opens_one_connection_for_many_calls(
    server: str, caplog: pytest.LogCaptureFixture
) -> None:
    sm = boto3.client(
        "sagemaker",
        endpoint_url=server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        for _ in range(6):
            sm.list_endpoints()
    opened = [r for r in caplog.records if "new HTTP connection" in r.getMessage()]
    dropped = [r for r in caplog.records if "dropped connection" in r.getMessage()]
    assert (len(opened), len(dropped)) == (1, 0)


def test_an_unread_body_does_not_become_the_next_request(server: str) -> None:
    conn = connection(server)
    # The readiness page never reads a body; the next request on the connection is answered.
    conn.request("GET", "/moto-api/", body=b"x" * 5000)
    first = conn.getresponse()
    first.read()
    assert first.status == 200
    assert ask(conn).status == 200


def test_a_chunked_body_is_answered_and_closes_its_connection(server: str) -> None:
    conn = connection(server)
    conn.putrequest("POST", "/")
    for key, value in LIST.items():
        conn.putheader(key, value)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"2\r\n{}\r\n0\r\n\r\n")
    response = conn.getresponse()
    response.read()
    assert (response.status, response.getheader("Connection")) == (200, "close")


def test_an_outage_still_resets_the_connection(server: str) -> None:
    faults = FaultClient(server)
    conn = connection(server)
    assert ask(conn).status == 200
    faults.outage(5, service="sagemaker")
    try:
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected, socket.error)):
            ask(conn)
    finally:
        faults.clear()
    assert ask(connection(server)).status == 200


def test_every_connection_sends_without_waiting_for_acknowledgements() -> None:
    """werkzeug writes an answer's headers and its body in two sends. With Nagle's algorithm on
    the server's socket, the body of an answer on a kept-alive connection waits until the client
    acknowledges the headers, which Linux delays by 40 ms: every call took 40 ms at least. The
    handler sets TCP_NODELAY on each connection it serves (here under werkzeug's own server, as
    the local AWS runs it)."""
    options: list[int] = []

    class Recording(KeepAliveHandler):
        def setup(self) -> None:
            super().setup()
            options.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Recording)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        conn = connection(f"http://127.0.0.1:{server.server_port}")
        for _ in range(3):
            conn.request("GET", "/")
            response = conn.getresponse()
            assert response.read() == b"ok"
        assert len(options) == 1 and options[0] != 0  # one connection, sent without delay
    finally:
        server.shutdown()
        server.server_close()
