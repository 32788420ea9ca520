"""The API server as `kubectl sagemeter` sees it: ManagedEndpoints (and the EndpointPolicies
the user may read), with the user's kubeconfig, and every failure as one line."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
import urllib3

try:
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
except ModuleNotFoundError:  # the operator's own install (its image) has no `cli` extra
    raise ModuleNotFoundError(
        "kubectl sagemeter needs the kubernetes client: pip install 'sagemeter[cli]'",
        name="kubernetes",
    ) from None

from sagemeter.api.models import GROUP, PLURAL, POLICY_PLURAL, VERSION

REQUEST_TIMEOUT = 30.0


class PluginError(click.ClickException):
    """A failure told to the user in one line (exit code 1)."""


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
        self._api = client.CustomObjectsApi(client.ApiClient(configuration))
        context = next(
            (c for c in contexts if c["name"] == (target.context or active["name"])), active
        )
        self.namespace: str = (
            target.namespace or (context.get("context") or {}).get("namespace") or "default"
        )

    def list(self, all_namespaces: bool) -> dict[str, Any]:
        if all_namespaces:
            return self._call(None, self._api.list_cluster_custom_object, GROUP, VERSION, PLURAL)
        return self._call(
            None, self._api.list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL
        )

    def policies(self) -> Sequence[dict[str, Any]]:
        """The EndpointPolicies the user may read (none when they may not: no error)."""
        try:
            found = self._api.list_cluster_custom_object(GROUP, VERSION, POLICY_PLURAL)
        except (ApiException, OSError):
            return []
        return list(found.get("items") or [])

    def get(self, name: str) -> dict[str, Any]:
        return self._call(
            name,
            self._api.get_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            name,
        )

    def patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """JSON merge patch; raises Conflict when `metadata.resourceVersion` is stale."""
        return self._call(
            name,
            self._api.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            self.namespace,
            PLURAL,
            name,
            body,
        )

    def _call(self, name: str | None, method: Callable[..., Any], *args: Any) -> dict[str, Any]:
        """One API call; errors become Conflict or a one-line PluginError."""
        try:
            result: dict[str, Any] = method(*args, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as error:
            if error.status == 409:
                raise Conflict(name) from None
            raise self._api_error(error, name) from None
        except urllib3.exceptions.HTTPError as error:
            cause = getattr(error, "reason", None) or error
            raise PluginError(
                f"cannot reach the Kubernetes API server: {_one_line(str(cause))}"
            ) from None
        return result

    def _api_error(self, error: ApiException, name: str | None) -> PluginError:
        try:
            body = json.loads(error.body or "{}")
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        details = body.get("details") or {}
        if error.status == 404 and name is not None and details.get("name") == name:
            return PluginError(
                f'managedendpoint "{name}" not found in namespace "{self.namespace}"'
            )
        if error.status == 404 and not details.get("name"):
            return PluginError(
                f"the server does not know {PLURAL}.{GROUP}: is the sagemeter CRD installed?"
            )
        message = body.get("message") or error.reason or "no message"
        return PluginError(f"{_one_line(str(message))} (HTTP {error.status})")
