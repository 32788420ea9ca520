"""Writes (or checks) the service models the operator ships: botocore's, cut to what it calls.

botocore parses a service's whole model with its first client (SageMaker's is about 9 MB
once parsed) and ``endpoints.json`` with its first Session, although the operator calls a few
dozen operations of nine services. ``operator/sagemeter/aws/models`` holds, for each service
the operator makes clients of, the ``service-2`` model with only the operations whose names
appear in the package (as a string such as ``"DescribeEndpoint"``, or as a method name such as
``put_metric_alarm``) and the shapes they reach, documentation left out; and an
``endpoints.json`` with only the services botocore may make clients of for the operator: those
nine, and the ones its credential providers use (STS, SSO, SSO OIDC, sign-in). Everything
else (endpoint rule sets, partitions, retry rules, the credential providers' own models) is
botocore's own: ``aws.clients`` puts this folder before botocore's data in one Loader.

    python hack/service_models.py          # writes the folder from the installed botocore
    python hack/service_models.py --check  # exits 1 when the folder is out of date

``tests/unit/test_service_models.py`` runs the check, so a new call or a new botocore fails
the unit tests until the models are written again.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "operator" / "sagemeter"
MODELS = PACKAGE / "aws" / "models"
# Services botocore's own credential providers make clients of: their endpoints stay in
# endpoints.json and their models stay whole (botocore's).
CREDENTIAL_SERVICES = ("sts", "sso", "sso-oidc", "signin")
# Kept whole although the operator calls it: botocore's web-identity and assume-role
# providers call STS operations the package never names.
WHOLE = frozenset({"sts"})


def _strings(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
        elif isinstance(node, ast.Attribute):
            yield node.attr


def _services(tree: ast.AST) -> Iterator[str]:
    """``SERVICE = "sagemaker"`` (a gateway) and ``client("sts", ...)``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            if any(isinstance(t, ast.Name) and t.id == "SERVICE" for t in node.targets):
                yield str(node.value.value)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("client", "shared_client") and isinstance(node.args[0].value, str):
                yield node.args[0].value


def scan(package: Path = PACKAGE) -> tuple[set[str], set[str]]:
    """(services the package makes clients of, every name it spells)."""
    services: set[str] = set()
    names: set[str] = set()
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        services.update(_services(tree))
        names.update(_strings(tree))
    return services, names


def _undocumented(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _undocumented(v)
            for k, v in value.items()
            if k not in ("documentation", "documentationUrl")
        }
    if isinstance(value, list):
        return [_undocumented(v) for v in value]
    return value


def _reached(model: dict[str, Any], operations: list[str]) -> set[str]:
    shapes = model["shapes"]
    todo = []
    for name in operations:
        operation = model["operations"][name]
        todo += [operation[k]["shape"] for k in ("input", "output") if k in operation]
        todo += [error["shape"] for error in operation.get("errors", [])]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        for key in ("member", "key", "value"):
            if key in shape:
                todo.append(shape[key]["shape"])
        for member in shape.get("members", {}).values():
            todo.append(member["shape"])
    return seen


def cut(model: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """``model`` with the operations ``names`` spells (PascalCase or snake_case) and the shapes
    they reach, without documentation."""
    from botocore import xform_name

    kept = sorted(op for op in model["operations"] if op in names or xform_name(op) in names)
    shapes = _reached(model, kept)
    return _undocumented(
        {
            **{k: v for k, v in model.items() if k not in ("operations", "shapes")},
            "operations": {op: model["operations"][op] for op in kept},
            "shapes": {name: model["shapes"][name] for name in sorted(shapes)},
        }
    )


def build() -> dict[str, Any]:
    """Relative path -> JSON document, for every file of the folder."""
    import botocore.loaders

    loader = botocore.loaders.Loader()
    services, names = scan()
    files: dict[str, Any] = {}
    prefixes = set()
    for service in sorted(services | set(CREDENTIAL_SERVICES)):
        model = loader.load_service_model(service, "service-2")
        prefixes.add(model["metadata"]["endpointPrefix"])
        if service not in services or service in WHOLE:
            continue  # botocore's own model
        version = model["metadata"]["apiVersion"]
        files[f"{service}/{version}/service-2.json"] = cut(model, names)
    endpoints = loader.load_data("endpoints")
    files["endpoints.json"] = {
        **endpoints,
        "partitions": [
            {
                **partition,
                "services": {k: v for k, v in partition["services"].items() if k in prefixes},
            }
            for partition in endpoints["partitions"]
        ],
    }
    return files


def _text(document: Any) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def stale(files: dict[str, Any]) -> list[str]:
    """Files of the folder that differ from ``files``, are missing or are extra."""
    wanted = {name: _text(doc) for name, doc in files.items()}
    present = (
        {str(p.relative_to(MODELS)): p.read_text() for p in MODELS.rglob("*.json")}
        if MODELS.exists()
        else {}
    )
    return sorted(
        name for name in wanted.keys() | present.keys() if wanted.get(name) != present.get(name)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when out of date")
    args = parser.parse_args()
    files = build()
    differ = stale(files)
    if args.check:
        for name in differ:
            print(f"out of date: {MODELS.relative_to(ROOT)}/{name}", file=sys.stderr)
        if differ:
            print("run: python hack/service_models.py", file=sys.stderr)
        return 1 if differ else 0
    for path in MODELS.rglob("*.json"):
        path.unlink()
    for name, document in files.items():
        target = MODELS / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_text(document))
    print(f"wrote {len(files)} files under {MODELS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
