"""Gateway tests run against a moto server in this process.

The server is the sandbox's local AWS (``sagemeter.sandbox.localaws``: endpoint lifecycle,
UpdateEndpoint, SageMaker's error texts) with transitions shortened to ``DELAY`` seconds when
that module is importable, and plain moto otherwise (``LocalAws.lifecycle`` tells which).
``aws_env`` points boto3 at it for one test, with dummy credentials and fresh moto state.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

import pytest

from sagemeter.aws.calls import CALLS
from sagemeter.aws.clients import reset_clients

DELAY = 0.3
REGION = "us-east-1"


@dataclass(frozen=True)
class LocalAws:
    url: str
    lifecycle: bool  # Creating/Updating/Deleting phases and UpdateEndpoint exist

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _localaws() -> ModuleType | None:
    try:
        return importlib.import_module("sagemeter.sandbox.localaws")
    except ImportError:
        return None


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    localaws = _localaws()
    if localaws is not None and hasattr(localaws, "start_in_thread"):
        if hasattr(localaws, "Delays"):
            localaws.install(localaws.Delays(create=DELAY, update=DELAY, delete=DELAY))
        server = localaws.start_in_thread("127.0.0.1", 0)
        try:
            yield LocalAws(f"http://127.0.0.1:{server.server_port}", lifecycle=True)
        finally:
            server.shutdown()
            server.server_close()
            if hasattr(localaws, "Delays"):
                localaws.install(localaws.Delays.from_env(os.environ))
        return
    from moto.server import ThreadedMotoServer

    port = _free_port()
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto_server.start()
    try:
        yield LocalAws(f"http://127.0.0.1:{port}", lifecycle=False)
    finally:
        moto_server.stop()


@pytest.fixture
def aws_env(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """boto3 aimed at the local AWS for this test: clean state, clean clients, zero counts."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    local_aws.reset()
    reset_clients()
    CALLS.reset()
    try:
        yield local_aws
    finally:
        reset_clients()  # later tests must not reuse clients aimed at this server
