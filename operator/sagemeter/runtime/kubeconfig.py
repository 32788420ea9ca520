"""Credentials for the apiserver, without the `kubernetes` package.

One login serves both kopf (the operator registers it as kopf's login handler) and sagemeter's
own calls (`runtime.apiserver`): in a Pod, the ServiceAccount token kubelet mounts (re-read at
each login: kubelet rotates it); elsewhere the current context of the kubeconfig files in
`KUBECONFIG` (default `~/.kube/config`): a token or token file, a client certificate, or an
exec plugin such as `aws eks get-token`. What the `kubernetes` package would add beyond that
(auth-provider plugins, which Kubernetes removed in 1.26) is not needed by the operator; the
kubectl plugin, which runs on people's machines, keeps the `kubernetes` package (`cli` extra).

Sources for the formats: "Organizing Cluster Access Using kubeconfig Files" and
"client-go credential plugins" (ExecCredential, `client.authentication.k8s.io/v1`) in the
Kubernetes documentation; relative paths in a kubeconfig are relative to the file's directory.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import kopf
import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
EXEC_TIMEOUT = 60.0


class LoginError(Exception):
    """No credentials could be found or made."""


def login(trust_env: bool = False) -> kopf.ConnectionInfo:
    """The credentials to use now (a fresh read: tokens and plugins are asked again)."""
    token = SERVICE_ACCOUNT / "token"
    if token.exists():
        return _in_cluster(token, trust_env)
    return _from_kubeconfig(trust_env)


def _in_cluster(token: Path, trust_env: bool) -> kopf.ConnectionInfo:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    server = f"https://{_host(host)}:{port}" if host and port else IN_CLUSTER_SERVER
    namespace = SERVICE_ACCOUNT / "namespace"
    ca = SERVICE_ACCOUNT / "ca.crt"
    return kopf.ConnectionInfo(
        server=server,
        ca_path=str(ca) if ca.exists() else None,
        token=token.read_text().strip() or None,
        default_namespace=namespace.read_text().strip() if namespace.exists() else None,
        trust_env=trust_env,
    )


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host  # an IPv6 address


def _from_kubeconfig(trust_env: bool) -> kopf.ConnectionInfo:
    paths = [
        Path(p).expanduser()
        for p in os.environ.get("KUBECONFIG", "~/.kube/config").split(os.pathsep)
        if p
    ]
    # Merged as kubectl does: the first file to set a value (or name an entry) wins.
    current: str | None = None
    entries: dict[str, dict[str, tuple[dict[str, Any], Path]]] = {
        "contexts": {},
        "clusters": {},
        "users": {},
    }
    for path in paths:
        if not path.exists():
            continue
        config = yaml.safe_load(path.read_text()) or {}
        current = current or config.get("current-context")
        for kind, found in entries.items():
            for item in config.get(kind) or []:
                body = item.get(kind[:-1]) or {}
                found.setdefault(item["name"], (body, path.parent))
    if not current:
        raise LoginError(f"no current context in {os.pathsep.join(map(str, paths))}")
    try:
        context, _ = entries["contexts"][current]
        cluster, cluster_dir = entries["clusters"][context["cluster"]]
        user, user_dir = (
            entries["users"][context.get("user", "")]
            if context.get("user")
            else (
                {},
                Path(),
            )
        )
    except KeyError as error:
        raise LoginError(f"kubeconfig context {current!r} names no {error}") from None
    credentials = _exec(user["exec"], user_dir, cluster) if user.get("exec") else {}
    token = credentials.get("token") or user.get("token")
    if not token and user.get("tokenFile"):
        token = _path(user["tokenFile"], user_dir).read_text().strip()
    return kopf.ConnectionInfo(
        server=cluster["server"],
        ca_path=_optional_path(cluster.get("certificate-authority"), cluster_dir),
        ca_data=cluster.get("certificate-authority-data"),
        insecure=cluster.get("insecure-skip-tls-verify"),
        certificate_path=_optional_path(user.get("client-certificate"), user_dir),
        certificate_data=credentials.get("clientCertificateData")
        or user.get("client-certificate-data"),
        private_key_path=_optional_path(user.get("client-key"), user_dir),
        private_key_data=credentials.get("clientKeyData") or user.get("client-key-data"),
        username=user.get("username"),
        password=user.get("password"),
        token=token,
        default_namespace=context.get("namespace"),
        proxy_url=cluster.get("proxy-url"),
        trust_env=trust_env,
        expiration=_expiry(credentials.get("expirationTimestamp")),
    )


def _path(value: str, base: Path) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _optional_path(value: str | None, base: Path) -> str | None:
    return str(_path(value, base)) if value else None


def _expiry(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _exec(plugin: dict[str, Any], base: Path, cluster: dict[str, Any]) -> dict[str, Any]:
    """Runs a credential plugin; its ExecCredential's `status`."""
    api_version = plugin.get("apiVersion", "client.authentication.k8s.io/v1")
    info: dict[str, Any] = {"apiVersion": api_version, "kind": "ExecCredential"}
    info["spec"] = {"interactive": False}
    if plugin.get("provideClusterInfo"):
        ca = cluster.get("certificate-authority-data")
        info["spec"]["cluster"] = {
            "server": cluster["server"],
            **({"certificate-authority-data": ca} if ca else {}),
            "config": (cluster.get("extensions") or [{}])[0].get("extension"),
        }
    command = plugin["command"]
    if os.sep in command and not os.path.isabs(command):
        command = str(base / command)
    env = {
        **os.environ,
        **{e["name"]: e["value"] for e in plugin.get("env") or []},
        "KUBERNETES_EXEC_INFO": json.dumps(info),
    }
    try:
        done = subprocess.run(
            [command, *(plugin.get("args") or [])],
            env=env,
            capture_output=True,
            text=True,
            timeout=EXEC_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise LoginError(f"credential plugin {command} failed: {error}") from error
    if done.returncode != 0:
        raise LoginError(f"credential plugin {command} failed: {done.stderr.strip()[-500:]}")
    # Client certificate and key come as PEM text, which kopf takes as it is.
    return dict(json.loads(done.stdout).get("status") or {})
