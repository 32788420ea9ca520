"""The one small Kubernetes API client sagemeter uses besides kopf's own.

JSON over HTTPS with urllib3 (which botocore brings anyway): requests, paged lists and watch
streams, with the credentials of `runtime.kubeconfig` (the same login kopf uses). The
`kubernetes` package is not needed: its generated models alone cost more memory than the rest
of the operator with no objects (kopf's documentation, "critiques"). Calls are synchronous and
thread-safe; the operator makes them from its worker threads, as it makes AWS calls.

A 401 logs in again once (a rotated ServiceAccount token, an expired exec-plugin token) before
it is reported; every other answer >= 400 is an `ApiError` with the HTTP status.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import kopf
import urllib3

from sagemeter.runtime.kubeconfig import login

JSON = "application/json"
# A list answered with each item's metadata only (PartialObjectMetadataList, Kubernetes API
# concepts, "Receiving resources as Tables / metadata only"): a sweep that needs uids does not
# parse every object's spec, status and managedFields.
METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
REQUEST_SECONDS = 30.0
CONNECT_SECONDS = 5.0
# Connections kept open to the apiserver: as many as one namespace's share of the worker
# threads uses at once (a connection beyond the pool is opened, used once and closed: a TLS
# handshake per call).
POOL_SIZE = 16


class ApiError(Exception):
    """The apiserver answered `status` (404, 409, 422...), or could not be reached (0)."""

    def __init__(self, status: int, reason: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{status} {reason}" if status else reason)
        self.status = status
        self.reason = reason
        self.body = dict(body or {})


class ApiClient:
    def __init__(self, credentials: Callable[[], kopf.ConnectionInfo] = login) -> None:
        self._credentials = credentials
        self._lock = threading.Lock()
        self._pool: urllib3.PoolManager | None = None
        self._info: kopf.ConnectionInfo | None = None

    # ------------------------------------------------------------------ connection

    def _connection(self) -> tuple[urllib3.PoolManager, kopf.ConnectionInfo]:
        with self._lock:
            info = self._info
            expired = (
                info is not None
                and info.expiration is not None
                and _aware(info.expiration) <= datetime.now(UTC)
            )
            if self._pool is None or info is None or expired:
                info = self._credentials()
                options: dict[str, Any] = {
                    "maxsize": POOL_SIZE,
                    "ssl_context": info.as_ssl_context(),
                    "headers": {**info.as_http_headers(), "User-Agent": "sagemeter"},
                    "retries": False,
                }
                if info.insecure:
                    options["cert_reqs"] = "CERT_NONE"
                self._pool = (
                    urllib3.ProxyManager(info.proxy_url, **options)
                    if info.proxy_url
                    else urllib3.PoolManager(**options)
                )
                self._info = info
            return self._pool, info

    def _forget(self, pool: urllib3.PoolManager) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
                pool.clear()

    def _send(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None,
        body: Any,
        content_type: str,
        timeout: urllib3.Timeout,
        stream: bool = False,
        accept: str = JSON,
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": accept}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        url_query = f"?{urlencode(query)}" if query else ""
        for attempt in (1, 2):
            pool, info = self._connection()
            try:
                response = pool.request(
                    method,
                    info.server.rstrip("/") + path + url_query,
                    body=payload,
                    headers={**pool.headers, **headers},
                    timeout=timeout,
                    preload_content=not stream,
                )
            except urllib3.exceptions.HTTPError as error:
                raise ApiError(0, f"{method} {path}: {error}") from error
            if response.status == 401 and attempt == 1:
                response.release_conn()
                self._forget(pool)
                continue
            if response.status >= 400:
                raise _error(response)
            return response
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ calls

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        content_type: str = JSON,
        timeout: float = REQUEST_SECONDS,
        accept: str = JSON,
    ) -> dict[str, Any]:
        """One call; the answer's JSON (empty when there is none). `timeout`: the seconds the
        answer may take."""
        limits = urllib3.Timeout(connect=CONNECT_SECONDS, read=timeout)
        response = self._send(method, path, query, body, content_type, limits, accept=accept)
        return dict(json.loads(response.data)) if response.data else {}

    def list(
        self, path: str, query: Mapping[str, Any] | None = None, timeout: float = REQUEST_SECONDS
    ) -> dict[str, Any]:
        """Every item of a collection, page by page: the items, and the list's metadata of
        the last page (its resourceVersion, from which a watch may start)."""
        items: list[dict[str, Any]] = []
        metadata: dict[str, Any] = {}
        for page in self.pages(path, query, timeout=timeout):
            items.extend(page.get("items") or [])
            metadata = page.get("metadata") or {}
        return {"items": items, "metadata": metadata}

    def pages(
        self,
        path: str,
        query: Mapping[str, Any] | None = None,
        *,
        limit: int = 500,
        accept: str = JSON,
        timeout: float = REQUEST_SECONDS,
    ) -> Iterator[dict[str, Any]]:
        """A collection one page (of at most `limit` items) at a time, so a caller that
        keeps little of each item never holds them all. `accept`: `METADATA_ONLY` for items
        with their metadata alone."""
        token: str | None = None
        while True:
            paged = {**(query or {}), "limit": limit, **_cont(token)}
            page = self.request("GET", path, query=paged, timeout=timeout, accept=accept)
            yield page
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def watch(
        self, path: str, resource_version: str | None, seconds: int
    ) -> Iterator[dict[str, Any]]:
        """The watch events of a collection from `resource_version`, until the server ends
        the stream (after `seconds`) or the caller stops reading."""
        query: dict[str, Any] = {"watch": "true", "timeoutSeconds": seconds}
        if resource_version:
            query["resourceVersion"] = resource_version
            query["allowWatchBookmarks"] = "false"
        # A silent connection is given up a while after the server should have ended it.
        timeout = urllib3.Timeout(connect=CONNECT_SECONDS, read=seconds + REQUEST_SECONDS)
        response = self._send("GET", path, query, None, JSON, timeout, stream=True)
        try:
            pending = b""
            for chunk in response.stream(2**16):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield dict(json.loads(line))
        except urllib3.exceptions.HTTPError as error:
            raise ApiError(0, f"watch {path}: {error}") from error
        finally:
            response.release_conn()


def _cont(token: str | None) -> dict[str, str]:
    return {"continue": token} if token else {}


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _error(response: urllib3.BaseHTTPResponse) -> ApiError:
    try:
        body = json.loads(response.data)
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    return ApiError(response.status, str(body.get("reason") or response.reason or ""), body)
