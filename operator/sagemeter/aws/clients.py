"""botocore clients: one per (service, region, identity), shared by every thread of the process.

Owns client creation and its configuration: every client the operator makes comes from
``client()``, so the call counter and the audit log reach all of them. The operator's own
identity comes from the standard chain (IRSA, Pod Identity, environment, profile) and
``AWS_ENDPOINT_URL`` points every client at a local AWS; botocore reads both itself. An
``Identity`` (a role an EndpointPolicy names, assumed for one namespace) gets a botocore Session
of its own, whose credentials ``aws.credentials`` assumes and refreshes.

Memory: every Session shares one botocore Loader, so ``endpoints.json`` and each service model
are read once per process, however many identities there are; a Session with a Loader of its
own reads them all again. The Loader reads the models the package ships first
(``aws/models``, written by ``hack/service_models.py``): each service's model cut to the
operations the package calls, and ``endpoints.json`` cut to the services it makes clients of.
SageMaker's whole model is about 9 MB once parsed, its cut one well under 1 MB. A model is
read with its service's first client, and botocore itself is imported with the first client:
an operator with no objects loads neither.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Final

from sagemeter.aws import audit
from sagemeter.aws.calls import CALLS
from sagemeter.aws.credentials import Identity, assumed_role_credentials

__all__ = [
    "CLIENT_OPTIONS",
    "MODELS",
    "Identity",
    "client",
    "has_credentials",
    "loader",
]

# The service models the operator ships (hack/service_models.py), read before botocore's own.
MODELS: Final = Path(__file__).with_name("models")

# botocore's Config. Standard mode retries throttling, 5xx and connection errors with backoff
# inside one call (at most 3 HTTP attempts). What still fails goes back to the reconciler as a
# classified AwsError and is requeued there.
CLIENT_OPTIONS: Final[dict[str, Any]] = {
    "retries": {"mode": "standard", "total_max_attempts": 3},
    "connect_timeout": 5,
    "read_timeout": 30,
    # As many connections as worker threads (runtime.workers): a smaller pool makes threads
    # open and close connections for every call under load.
    "max_pool_connections": 48,
}

# Sessions are not thread-safe, clients are: create under the lock, use without it.
_lock = threading.Lock()
_shared: dict[str, Any] = {}  # the Loader and the Config, made with the first client
_sessions: dict[Identity | None, Any] = {}
_clients: dict[tuple[str, str, Identity | None], Any] = {}
# How long assumed-role credentials last (an assumed role chained from IRSA or Pod Identity
# lasts at most one hour); configurable for tests of expiry.
_duration = {"seconds": 3600}


def client(service: str, region: str, identity: Identity | None = None) -> Any:
    """The shared botocore client for ``service`` in ``region``, as ``identity`` (None: the
    operator's own)."""
    key = (service, region, identity)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = _clients[key] = _make(service, region, _session(identity))
        return found


def has_credentials() -> bool:
    """Whether the operator's own credential chain finds credentials (none asked of STS)."""
    with _lock:
        return _session(None).get_credentials() is not None


def _make(service: str, region: str, session: Any) -> Any:
    """Called with the lock held."""
    made = session.create_client(service, region_name=region, config=_shared["config"])
    CALLS.attach(made)
    audit.attach(made)
    return made


def _session(identity: Identity | None) -> Any:
    """Called with the lock held."""
    found = _sessions.get(identity)
    if found is not None:
        return found
    import botocore.config
    import botocore.session

    if not _shared:
        _shared["loader"] = loader()
        _shared["config"] = botocore.config.Config(**CLIENT_OPTIONS)
    session = botocore.session.Session()
    session.register_component("data_loader", _shared["loader"])
    if identity is not None:
        sts = _clients.get(("sts", identity.sts_region, None))
        if sts is None:
            sts = _clients[("sts", identity.sts_region, None)] = _make(
                "sts", identity.sts_region, _session(None)
            )
        session._credentials = assumed_role_credentials(sts, identity, _duration["seconds"])
    _sessions[identity] = session
    return session


def set_assumed_role_seconds(seconds: int) -> None:
    """How long assumed-role credentials are asked for (STS allows 900 to 43200; an assumed
    role chained from another role lasts at most 3600)."""
    _duration["seconds"] = seconds


def loader() -> Any:
    """A botocore Loader that reads the shipped models first, then the usual places (``~/.aws/
    models``, botocore's data). The shipped ``endpoints.json`` counts as botocore's own: with
    other data botocore would leave FIPS, dual-stack and the partitions' variants to the
    legacy resolver."""
    import botocore.loaders

    class _Shipped(botocore.loaders.Loader):  # type: ignore[misc]
        def is_builtin_path(self, path: str) -> bool:
            return path.startswith(str(MODELS)) or bool(super().is_builtin_path(path))

    return _Shipped(extra_search_paths=[str(MODELS)])
