"""Makes a Python process check its botocore requests (``sagemeter_sandbox.contract``).

On ``PYTHONPATH`` only when a test harness puts it there (``contract.subprocess_env``), together
with ``SAGEMETER_CONTRACT_CHECK``: the process then reports every request AWS would refuse.
Python imports one ``sitecustomize``; the one this shadows (Debian ships one) still runs.
"""

import importlib.util
import os
import sys

if os.environ.get("SAGEMETER_CONTRACT_CHECK"):
    from sagemeter_sandbox import contract

    contract.install_from_env()

_here = os.path.dirname(os.path.abspath(__file__))
for _entry in sys.path:
    if os.path.abspath(_entry or ".") == _here:
        continue
    _candidate = os.path.join(_entry or ".", "sitecustomize.py")
    if os.path.isfile(_candidate):
        _spec = importlib.util.spec_from_file_location("_sitecustomize_next", _candidate)
        if _spec is not None and _spec.loader is not None:
            _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
        break
