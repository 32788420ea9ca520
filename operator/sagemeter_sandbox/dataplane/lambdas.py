"""Runs Lambda functions of moto's Lambda backend without Docker (moto runs them in Docker,
which the sandbox does not have).

Only ``python*`` runtimes with ``PackageType`` Zip: the function's zip (moto keeps it as
``code_bytes``) is extracted once per code version into a temporary directory, and each
invocation runs the handler in a fresh subprocess of the sandbox's own Python, whichever
``python3.x`` the function names (so ``boto3`` is importable, as in Lambda): the event as JSON
on stdin, the handler's return value as JSON on stdout, killed after the function's
``Timeout``. What the handler prints goes to moto's CloudWatch Logs, group
``/aws/lambda/<name>``, as Lambda's would. The environment is the function's variables plus
what Lambda sets (``AWS_REGION``, ``AWS_LAMBDA_FUNCTION_NAME``, ...), with the sandbox's
credentials and ``AWS_ENDPOINT_URL`` aimed at the local AWS that served the request.

Not supported (``LambdaUnsupported``): other runtimes, container images, layers, aliases'
routing, concurrency limits, a warm process between invocations.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moto.awslambda.models import LambdaFunction, lambda_backends

from sagemeter_sandbox import AWS_CREDENTIALS

__all__ = [
    "Invocation",
    "LambdaUnsupported",
    "find_function",
    "function_arn_from_uri",
    "invoke",
    "permits_apigateway",
    "wildcard",
]

# Imports the handler and calls it; the result (or Lambda's error shape) goes to the real stdout.
_BOOTSTRAP = r"""
import importlib, json, sys, time, traceback
result_out, sys.stdout = sys.stdout, sys.stderr
module_name, _, function_name = sys.argv[1].rpartition(".")
deadline = time.monotonic() + float(sys.argv[2])

class Context:
    function_name = sys.argv[3]
    invoked_function_arn = sys.argv[4]
    aws_request_id = sys.argv[5]
    memory_limit_in_mb = sys.argv[6]
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/" + sys.argv[3]
    log_stream_name = "sandbox"
    def get_remaining_time_in_millis(self):
        return max(0, int((deadline - time.monotonic()) * 1000))

try:
    handler = getattr(importlib.import_module(module_name), function_name)
    payload = {"result": handler(json.load(sys.stdin), Context())}
except Exception as error:
    payload = {"error": {"errorMessage": str(error), "errorType": type(error).__name__,
                         "stackTrace": traceback.format_tb(error.__traceback__)}}
result_out.write(json.dumps(payload))
"""

_LAMBDA_URI = re.compile(
    r"^arn:[a-z-]+:apigateway:[a-z0-9-]+:lambda:path/[^/]+/functions/(.+)/invocations$"
)
_code_dirs: dict[str, Path] = {}
_code_lock = threading.Lock()


class LambdaUnsupported(Exception):
    """A function this runner cannot run (the message says why)."""


@dataclass(frozen=True)
class Invocation:
    """What one invocation returned: ``payload`` is the handler's result, or Lambda's error
    document (``errorMessage``, ``errorType``) when ``error`` is set."""

    payload: Any
    error: bool


def function_arn_from_uri(uri: str | None) -> str | None:
    """The function an API Gateway Lambda URI (``.../functions/<arn>/invocations``) names."""
    match = _LAMBDA_URI.match(uri or "")
    return match.group(1) if match else None


def find_function(arn: str) -> LambdaFunction | None:
    """The function an ARN (``arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]``)
    names in moto's Lambda backend, or None."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[2] != "lambda":
        return None
    region, account = parts[3], parts[4]
    try:
        function: LambdaFunction = lambda_backends[account][region].get_function(arn)
    except Exception:  # moto raises UnknownFunctionException (and others for bad ARNs)
        return None
    return function


def _code_dir(function: LambdaFunction) -> Path:
    digest = hashlib.sha256(function.code_bytes).hexdigest()
    with _code_lock:
        if digest not in _code_dirs:
            target = Path(tempfile.mkdtemp(prefix=f"sagemeter-lambda-{function.function_name}-"))
            atexit.register(shutil.rmtree, target, True)
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                archive.extractall(target)
            _code_dirs[digest] = target
        return _code_dirs[digest]


def invoke(
    function: LambdaFunction,
    event: Any,
    request_id: str,
    endpoint_url: str,
    max_seconds: float | None = None,
) -> Invocation:
    """Runs ``function`` on ``event``. Raises ``LambdaUnsupported`` for what this runner cannot
    run and ``TimeoutError`` after ``min(Timeout, max_seconds)``."""
    runtime = str(function.run_time or "")
    if function.package_type != "Zip" or not runtime.startswith("python"):
        raise LambdaUnsupported(
            f"the sandbox runs only Python zip functions without Docker; "
            f"{function.function_arn} is {function.package_type} {runtime or '(no runtime)'}"
        )
    if function.layers:
        raise LambdaUnsupported(f"{function.function_arn} uses layers, which the sandbox lacks")
    timeout = float(function.timeout or 3)
    if max_seconds is not None:
        timeout = min(timeout, max_seconds)
    code = _code_dir(function)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(code),
        "PYTHONDONTWRITEBYTECODE": "1",
        **AWS_CREDENTIALS,
        "AWS_REGION": function.region,
        "AWS_DEFAULT_REGION": function.region,
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "_HANDLER": str(function.handler),
        **{str(k): str(v) for k, v in (function.environment_vars or {}).items()},
    }
    argv = [
        sys.executable,
        "-c",
        _BOOTSTRAP,
        str(function.handler),
        str(timeout),
        function.function_name,
        function.function_arn,
        request_id,
        str(function.memory_size),
    ]
    try:
        done = subprocess.run(
            argv,
            input=json.dumps(event),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=code,
            env=env,
        )
    except subprocess.TimeoutExpired as expired:
        _save_logs(function, request_id, f"Task timed out after {timeout:.2f} seconds\n")
        raise TimeoutError(f"Task timed out after {timeout:.2f} seconds") from expired
    _save_logs(function, request_id, done.stderr)
    try:
        outcome = json.loads(done.stdout)
    except ValueError:
        # The process died before writing a result (a crash, sys.exit, a syntax error at import
        # outside the handler's try): Lambda reports Runtime.ExitError.
        message = f"RequestId: {request_id} Error: Runtime exited with error: exit status "
        exited = {"errorType": "Runtime.ExitError", "errorMessage": message + str(done.returncode)}
        return Invocation(exited, error=True)
    if "error" in outcome:
        return Invocation(outcome["error"], error=True)
    return Invocation(outcome.get("result"), error=False)


def _save_logs(function: LambdaFunction, request_id: str, output: str) -> None:
    function.logs_backend.ensure_log_group(function.logs_group_name)
    function.save_logs(f"START RequestId: {request_id}\n{output}END RequestId: {request_id}")


def wildcard(pattern: str) -> re.Pattern[str]:
    """An IAM-style pattern (``*`` any run of characters, ``?`` one) as a regex."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    )


def permits_apigateway(function: LambdaFunction, source_arn: str) -> bool:
    """Whether the function's resource policy lets ``apigateway.amazonaws.com`` invoke it from
    ``source_arn`` (an execute-api ARN), as AddPermission with that principal writes it."""
    for statement in function.policy.statements:
        principal = statement.get("Principal")
        service = principal.get("Service") if isinstance(principal, dict) else principal
        actions = statement.get("Action", [])
        actions = actions if isinstance(actions, list) else [actions]
        conditions = statement.get("Condition") or {}
        source = (conditions.get("ArnLike") or conditions.get("ArnEquals") or {}).get(
            "AWS:SourceArn", "*"
        )
        if (
            statement.get("Effect", "Allow") == "Allow"
            and service in ("apigateway.amazonaws.com", "*")
            and any(wildcard(a).fullmatch("lambda:InvokeFunction") for a in actions)
            and wildcard(str(source)).fullmatch(source_arn)
        ):
            return True
    return False
