"""The API server as `kubectl sagemeter` sees it: ManagedEndpoints (and the EndpointPolicies
the user may read), with the user's kubeconfig, and every failure as one line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import urllib3

try:
    from kubernetes import client, config, watch
    from kubernetes.client.exceptions import ApiException
except ModuleNotFoundError:  # the operator's own install (its image) has no `cli` extra
    raise ModuleNotFoundError(
        "kubectl sagemeter needs the kubernetes client: pip install 'sagemeter[cli]'",
        name="kubernetes",
    ) from None

from sagemeter.api.models import GROUP, PLURAL, POLICY_PLURAL, VERSION
from sagemeter.cli.patches import FIELD_MANAGER

REQUEST_TIMEOUT = 30.0
WATCH_SECONDS = 240  # a watch is renewed this often (and with it an expiring exec token)


class PluginError(click.ClickException):
    """A failure told to the user in one line (exit code 1)."""


class ApiError(PluginError):
    """The API server refused: its HTTP status, reason and message as it wrote them."""

    def __init__(self, status: int, reason: str, message: str, said: str | None = None) -> None:
        # `said`: how the command line words it, when it says more than the API's message.
        super().__init__(said or f"{_one_line(message)} (HTTP {status})")
        self.status = status
        self.reason = reason
        self.api_message = message


class Unreachable(PluginError):
    """The API server did not answer (connection refused, timeout, TLS failure)."""


class Conflict(Exception):
    """The object changed since it was read (HTTP 409)."""


def utcnow() -> datetime:
    """The current time in whole seconds, as Kubernetes writes times."""
    return datetime.now(UTC).replace(microsecond=0)


@dataclass
class Target:
    """Where to talk to: kubectl's --kubeconfig, --context and --namespace."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Endpoints:
    """ManagedEndpoint objects, read and patched with the user's kubeconfig."""

    def __init__(self, target: Target) -> None:
        configuration = client.Configuration()
        try:
            config.load_kube_config(
                config_file=target.kubeconfig,
                context=target.context,
                client_configuration=configuration,
                persist_config=False,
            )
            contexts, active = config.list_kube_config_contexts(config_file=target.kubeconfig)
        except Exception as error:  # any broken kubeconfig is the user's to fix: say why
            raise PluginError(f"cannot load the kubeconfig: {_one_line(str(error))}") from None
        configuration.retries = 1  # an unreachable server fails fast instead of 3 backoffs
        api_client = client.ApiClient(configuration)
        self._api = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        context = next(
            (c for c in contexts if c["name"] == (target.context or active["name"])), active
        )
        self.context: str = str(context.get("name") or "")
        self.namespace: str = (
            target.namespace or (context.get("context") or {}).get("namespace") or "default"
        )

    def list(self, all_namespaces: bool, namespace: str | None = None) -> dict[str, Any]:
        """ManagedEndpoints of every namespace, or of `namespace` (default: the target's)."""
        if all_namespaces:
            return self._call(None, self._api.list_cluster_custom_object, GROUP, VERSION, PLURAL)
        return self._call(
            None,
            self._api.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace or self.namespace,
            PLURAL,
            namespace=namespace,
        )

    def policies(self) -> Sequence[dict[str, Any]]:
        """The EndpointPolicies the user may read (none when they may not: no error)."""
        try:
            found = self._api.list_cluster_custom_object(GROUP, VERSION, POLICY_PLURAL)
        except (ApiException, OSError):
            return []
        return list(found.get("items") or [])

    def list_policies(self) -> dict[str, Any]:
        """Every EndpointPolicy, or the API's refusal as an ApiError."""
        return self._call(None, self._api.list_cluster_custom_object, GROUP, VERSION, POLICY_PLURAL)

    def namespace_labels(self, namespace: str) -> dict[str, str] | None:
        """The namespace's labels; None when the user may not read it (or it is gone)."""
        try:
            found = self._core.read_namespace(namespace, _request_timeout=REQUEST_TIMEOUT)
        except (ApiException, urllib3.exceptions.HTTPError):
            return None
        return dict(found.metadata.labels or {})

    def watch(
        self, plural: str, namespace: str | None, resource_version: str
    ) -> Iterator[dict[str, Any]]:
        """Watch events (`type`, `object` as a dict) of `plural` in `namespace` (None: every
        namespace, or a cluster-scoped kind) from `resource_version`, for up to WATCH_SECONDS;
        bookmarks included. An expired version is ApiError 410: list again."""
        args: tuple[str, ...]
        if namespace is None:
            method, args = self._api.list_cluster_custom_object, (GROUP, VERSION, plural)
        else:
            method = self._api.list_namespaced_custom_object
            args = (GROUP, VERSION, namespace, plural)
        stream = watch.Watch().stream(
            method,
            *args,
            resource_version=resource_version,
            timeout_seconds=WATCH_SECONDS,
            allow_watch_bookmarks=True,
            _request_timeout=(REQUEST_TIMEOUT, WATCH_SECONDS + REQUEST_TIMEOUT),
        )
        try:
            for event in stream:
                yield {"type": event["type"], "object": event["raw_object"]}
        except ApiException as error:
            raise self._api_error(error, None, namespace or "") from None
        except urllib3.exceptions.HTTPError as error:
            cause = getattr(error, "reason", None) or error
            raise Unreachable(
                f"cannot reach the Kubernetes API server: {_one_line(str(cause))}"
            ) from None

    def get(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """The object `name` in `namespace` (default: the target's namespace)."""
        return self._call(
            name,
            self._api.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace or self.namespace,
            PLURAL,
            name,
            namespace=namespace,
        )

    def patch(
        self, name: str, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        """JSON merge patch as field manager `sagemeter-cli`; raises Conflict when
        `metadata.resourceVersion` is stale."""
        return self._call(
            name,
            self._api.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace or self.namespace,
            PLURAL,
            name,
            body,
            namespace=namespace,
            field_manager=FIELD_MANAGER,
        )

    def _call(
        self,
        name: str | None,
        method: Callable[..., Any],
        *args: Any,
        namespace: str | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """One API call; errors become Conflict or a one-line PluginError."""
        try:
            result: dict[str, Any] = method(*args, **options, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as error:
            if error.status == 409:
                raise Conflict(name) from None
            raise self._api_error(error, name, namespace or self.namespace) from None
        except urllib3.exceptions.HTTPError as error:
            cause = getattr(error, "reason", None) or error
            raise Unreachable(
                f"cannot reach the Kubernetes API server: {_one_line(str(cause))}"
            ) from None
        return result

    def _api_error(self, error: ApiException, name: str | None, namespace: str) -> ApiError:
        try:
            body = json.loads(error.body or "{}")
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        details = body.get("details") or {}
        message = str(body.get("message") or error.reason or "no message")
        status, reason = int(error.status or 0), str(body.get("reason") or error.reason or "")
        if status == 404 and name is not None and details.get("name") == name:
            said = f'managedendpoint "{name}" not found in namespace "{namespace}"'
            return ApiError(status, reason, message, said)
        if status == 404 and not details.get("name"):
            said = f"the server does not know {PLURAL}.{GROUP}: is the sagemeter CRD installed?"
            return ApiError(status, reason, message, said)
        return ApiError(status, reason, message)
