"""Runs `sagemeter` as the image does: only the distributions of requirements.lock importable.

    python tests/e2e/runtime_only.py run --peering=sagemeter ...
    python tests/e2e/runtime_only.py --import sagemeter.cli.plugin

`SAGEMETER_RUNTIME_MODULES` lists the top-level modules of requirements.lock (comma-separated;
`locked_modules()` makes it). Every other installed distribution (the `cli` extra's
`kubernetes`, the test tools, the sandbox) cannot be imported: the operator must run without
it, and kopf, which imports `kubernetes` whenever it is there, must not find it either.

`SAGEMETER_RUNTIME_IMPORT_ALL=1` first imports every operator module (the `cli` extra's
modules, the kubectl plugin, excepted). `--import MODULE` imports that module, and that is all.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import pkgutil
import sys
import sysconfig
from collections.abc import Sequence
from types import ModuleType

# The kubectl plugin and its UI: the `cli` extra (the kubernetes client), not in the image.
CLI_EXTRA = (
    "sagemeter.cli.plugin",
    "sagemeter.cli.access",
    "sagemeter.cli.actions",
    "sagemeter.cli.ui",
)
_SITE = tuple({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})


class RuntimeOnly(importlib.abc.MetaPathFinder):
    """Installed distributions outside requirements.lock cannot be imported."""

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        where = [spec.origin or "", *(spec.submodule_search_locations or [])] if spec else []
        installed = any(str(w).startswith(_SITE) for w in where)
        if installed and name.partition(".")[0] not in self.allowed:
            raise ModuleNotFoundError(f"{name} is not in requirements.lock", name=name)
        return None


def main() -> None:
    allowed = set(os.environ["SAGEMETER_RUNTIME_MODULES"].split(","))
    sys.meta_path.insert(0, RuntimeOnly(allowed))
    if sys.argv[1:2] == ["--import"]:
        importlib.import_module(sys.argv[2])
        return
    if os.environ.get("SAGEMETER_RUNTIME_IMPORT_ALL"):
        import sagemeter

        for module in pkgutil.walk_packages(sagemeter.__path__, "sagemeter."):
            if not module.name.startswith(CLI_EXTRA):
                importlib.import_module(module.name)
    sys.argv = ["sagemeter", *sys.argv[1:]]
    from sagemeter.cli.main import main as sagemeter

    sagemeter()


if __name__ == "__main__":
    main()
