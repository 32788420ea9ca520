"""The Argo CD health check and actions in deploy/argocd, run by a real Lua 5.1 interpreter.

Argo CD runs these scripts in gopher-lua (Lua 5.1) with a global ``obj`` (the live object)
and, for actions, only the base and table libraries plus ``os.time``/``os.date``: no
``string`` library. The harness does the same to ``lua5.1``: each script runs in an
environment with just those globals and with the string metatable's ``__index`` removed
(so ``("x"):sub(1)`` fails as it does in Argo CD); ``os.time()`` returns the test's "now".
Objects go in as Lua table literals; results come back as JSON from a small encoder.
The interpreter comes from Debian's lua5.1 package (hack/install-system-deps.sh).
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemeter.api.models import ManagedEndpoint
from sagemeter.core.meter.times import format_time, parse_time

ROOT = Path(__file__).resolve().parents[2]
ARGOCD = ROOT / "deploy" / "argocd"
FIXTURES = ROOT / "tests" / "fixtures" / "argocd"
HEALTH = ARGOCD / "health.lua"
DISCOVERY = ARGOCD / "actions" / "discovery.lua"
EXTEND = ARGOCD / "actions" / "extend-1h" / "action.lua"
WAKE = ARGOCD / "actions" / "wake" / "action.lua"
LUA = shutil.which("lua5.1")
NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)


# ----------------------------------------------------------------------------- the harness

HARNESS = r"""
local S, OS, MT = string, os, getmetatable("")
local INDEX = MT.__index

local function encode(v)
  local t = type(v)
  if t == "nil" then return "null" end
  if t == "boolean" then return v and "true" or "false" end
  if t == "number" then
    if v == math.floor(v) and v > -1e15 and v < 1e15 then return S.format("%d", v) end
    return S.format("%.17g", v)
  end
  if t == "string" then
    return '"' .. S.gsub(v, '[%c"\\]', function(c)
      return S.format("\\u%04x", S.byte(c))
    end) .. '"'
  end
  if t ~= "table" then error("cannot encode a " .. t) end
  local count, keys = 0, {}
  for k in pairs(v) do count = count + 1; keys[#keys + 1] = k end
  if count == 0 then return "[]" end -- like gopher-json, which Argo CD uses
  local parts = {}
  if #v == count then
    for i = 1, count do parts[i] = encode(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do parts[i] = encode(tostring(k)) .. ":" .. encode(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end

local chunk = assert(loadfile(SCRIPT))
local results = {}
for i, case in ipairs(CASES) do
  local env = {
    obj = case.obj,
    os = {
      time = function(t)
        if t ~= nil then error("os.time(table) reads the Argo CD server's local zone") end
        return case.now
      end,
      date = function(fmt, t)
        if t ~= nil then error("Argo CD's os.date(fmt, t) formats t in the local zone") end
        return OS.date(fmt, case.now)
      end,
    },
    table = table, ipairs = ipairs, pairs = pairs, next = next, select = select,
    tostring = tostring, tonumber = tonumber, type = type, unpack = unpack,
    error = error, assert = assert, pcall = pcall, xpcall = xpcall,
    rawget = rawget, rawset = rawset, rawequal = rawequal,
    setmetatable = setmetatable, getmetatable = getmetatable,
  }
  setfenv(chunk, env)
  MT.__index = nil
  local ok, value = pcall(chunk)
  MT.__index = INDEX
  if ok then
    results[i] = {ok = true, value = value}
  else
    results[i] = {ok = false, error = tostring(value)}
  end
end
io.write(encode(results))
"""


def lua_literal(value: Any) -> str:
    """A JSON-like value as a Lua table literal (as Argo CD decodes objects: null -> nil)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        escaped = "".join(
            chr(b) if 32 <= b < 127 and chr(b) not in '"\\' else f"\\{b:03d}"
            for b in value.encode()
        )
        return f'"{escaped}"'
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(item) for item in value) + "}"
    if isinstance(value, dict):
        items = (f"[{lua_literal(str(k))}] = {lua_literal(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"cannot express {value!r} in Lua")


def run_lua(script: Path, objs: list[dict[str, Any]], now: datetime = NOW) -> list[Any]:
    """Runs ``script`` once per object; each result is the returned value or an Error."""
    # `make test` installs it; a missing interpreter fails here rather than skipping.
    assert LUA is not None, "lua5.1 is required: run hack/install-system-deps.sh"
    cases = [{"obj": obj, "now": int(now.timestamp())} for obj in objs]
    source = f"SCRIPT = {lua_literal(str(script))}\nCASES = {lua_literal(cases)}\n{HARNESS}"
    done = subprocess.run(
        [LUA, "-"], input=source, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [r["value"] if r["ok"] else Error(r["error"]) for r in json.loads(done.stdout)]


def run_one(script: Path, obj: dict[str, Any], now: datetime = NOW) -> Any:
    (result,) = run_lua(script, [obj], now)
    if isinstance(result, Error):
        raise AssertionError(f"{script.name} failed: {result.message}")
    return result


class Error:
    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"Error({self.message!r})"


def fixture(name: str) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return obj


# ----------------------------------------------------------------------------- the sandbox


def test_the_harness_takes_the_string_library_away(tmp_path: Path) -> None:
    script = tmp_path / "uses-string.lua"
    results = []
    for body in ('return {("x"):upper()}', 'return {string.format("%d", 1)}', "return {1, 2}"):
        script.write_text(body)
        results.extend(run_lua(script, [{}]))
    assert isinstance(results[0], Error) and isinstance(results[1], Error)
    assert results[2] == [1, 2]


def test_lua_literals_round_trip_through_the_harness(tmp_path: Path) -> None:
    script = tmp_path / "echo.lua"
    script.write_text("return obj")
    obj = fixture("parked-idle")
    obj["metadata"]["annotations"]["note"] = 'quotes " and \\ and ümlauts\nnew line'
    assert run_one(script, obj) == obj


def test_fixtures_are_valid_manage_endpoints() -> None:
    for path in sorted(FIXTURES.glob("*.json")):
        obj = json.loads(path.read_text())
        ManagedEndpoint.model_validate({"spec": obj["spec"], "status": obj.get("status") or {}})


# ----------------------------------------------------------------------------- health

HEALTH_CASES = {
    "no-status": ("Progressing", "Waiting for sagemeter"),
    "pending": ("Progressing", "Pending"),
    "creating": ("Progressing", "Creating: creating endpoint team-a-falcon-3f2a (SageMaker: "),
    "updating": ("Progressing", "(SageMaker: Updating)"),
    "deleting": ("Progressing", "Parking"),
    "stale-generation": ("Progressing", "observe generation 3"),
    "in-service": ("Healthy", "Endpoint is serving until 2026-11-22T17:00:00Z"),
    "expiring-soon": ("Healthy", "(expiring soon)"),
    "parked-expired": ("Suspended", "Parked (Expired): expired at 2026-11-22T17:00:00Z"),
    "parked-idle": ("Suspended", "Parked (Idle): no invocations for 15m"),
    "parked-suspended": ("Suspended", "Parked (Suspended)"),
    "failed": ("Degraded", "EndpointFailed: The primary container"),
    "degraded-conflict": ("Degraded", "EndpointNameConflict: SageMaker endpoint"),
    "degraded-in-service": ("Degraded", "UpdateFailed"),
}


def test_every_fixture_has_a_health_case() -> None:
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(HEALTH_CASES)


def test_health_of_every_phase() -> None:
    names = sorted(HEALTH_CASES)
    results = run_lua(HEALTH, [fixture(name) for name in names])
    for name, result in zip(names, results, strict=True):
        status, message = HEALTH_CASES[name]
        assert not isinstance(result, Error), f"{name}: {result}"
        assert result["status"] == status, f"{name}: {result}"
        assert message in result["message"], f"{name}: {result}"


def test_failed_without_a_degraded_condition_reports_the_failure_reason() -> None:
    obj = fixture("failed")
    conditions = obj["status"]["conditions"]
    obj["status"]["conditions"] = [c for c in conditions if c["type"] != "Degraded"]
    result = run_one(HEALTH, obj)
    assert result == {
        "status": "Degraded",
        "message": "Failed: " + obj["status"]["failureReason"],
    }


def test_an_unknown_phase_is_unknown() -> None:
    obj = fixture("in-service")
    obj["status"]["phase"] = "Hibernating"
    obj["status"]["conditions"] = []
    assert run_one(HEALTH, obj)["status"] == "Unknown"


# ----------------------------------------------------------------------------- discovery


def test_discovery_offers_extend_always_and_wake_when_it_helps() -> None:
    names = sorted(HEALTH_CASES)
    results = run_lua(DISCOVERY, [fixture(name) for name in names])
    for name, actions in zip(names, results, strict=True):
        assert set(actions) == {"extend-1h", "wake"}, name
        assert actions["extend-1h"]["disabled"] is False
        wakeable = name in ("parked-idle", "parked-suspended")
        assert actions["wake"]["disabled"] is (not wakeable), name


# ----------------------------------------------------------------------------- extend-1h


def _with_expiry(
    spec_at: str | None = None, status_at: str | None = None, ttl: str | None = None
) -> dict[str, Any]:
    obj = fixture("in-service")
    obj["spec"]["expiry"] = {k: v for k, v in {"ttl": ttl, "expiresAt": spec_at}.items() if v}
    if status_at is None:
        del obj["status"]
    else:
        obj["status"]["expiresAt"] = status_at
    return obj


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # from the effective expiry in status (it includes the operator's limits)
        (_with_expiry(status_at="2026-11-22T17:00:00Z", ttl="8h"), "2026-11-22T18:00:00Z"),
        (_with_expiry("2026-11-22T20:00:00Z", "2026-11-22T14:00:00Z"), "2026-11-22T15:00:00Z"),
        # expired: extended from now
        (_with_expiry(status_at="2026-11-22T09:30:00Z"), "2026-11-22T13:00:00Z"),
        # not reconciled yet: spec.expiry.expiresAt, else creation + ttl
        (_with_expiry(spec_at="2026-11-22T19:00:00+01:00"), "2026-11-22T19:00:00Z"),
        (_with_expiry(spec_at="2026-11-22T14:30:00.250Z"), "2026-11-22T15:30:00Z"),
        (_with_expiry(ttl="4h30m"), "2026-11-22T14:30:00Z"),
        (_with_expiry(ttl="1d"), "2026-11-23T10:00:00Z"),
        (_with_expiry(ttl="1h"), "2026-11-22T13:00:00Z"),
        # calendar edges
        (_with_expiry(status_at="2028-02-29T23:30:00Z"), "2028-03-01T00:30:00Z"),
        (_with_expiry(status_at="2026-12-31T23:59:59Z"), "2027-01-01T00:59:59Z"),
        (_with_expiry(status_at="2100-02-28T23:00:00-00:30"), "2100-03-01T00:30:00Z"),
    ],
)
def test_extend_tops_up_the_meter(obj: dict[str, Any], expected: str) -> None:
    result = run_one(EXTEND, obj)
    assert result["spec"]["expiry"]["expiresAt"] == expected
    # nothing else changes
    result["spec"]["expiry"].pop("expiresAt")
    obj["spec"]["expiry"].pop("expiresAt", None)
    assert result == obj


def test_extend_refuses_an_endpoint_that_never_expires() -> None:
    (result,) = run_lua(EXTEND, [_with_expiry()])
    assert isinstance(result, Error)
    assert result.message.startswith("falcon never expires")


@pytest.mark.parametrize("bad", ["tomorrow", "2026-11-22 18:00:00Z", "2026-13-01T00:00:00Z"])
def test_extend_refuses_an_unreadable_expiry(bad: str) -> None:
    (result,) = run_lua(EXTEND, [_with_expiry(status_at=bad)])
    assert isinstance(result, Error)
    assert result.message == f"cannot read status.expiresAt {bad} as an RFC 3339 time"


def test_extend_agrees_with_python_on_many_times() -> None:
    rng = random.Random(20261122)
    objs, expected = [], []
    for _ in range(400):
        instant = datetime(1971, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(0, 200 * 365 * 86400)
        )
        offset = timezone(timedelta(minutes=rng.choice([0, 0, 60, -300, 330, 840, -720])))
        text = instant.astimezone(offset).isoformat()
        if rng.random() < 0.3:
            text = text.replace("+00:00", "Z")
        now = NOW if rng.random() < 0.5 else instant - timedelta(hours=1)
        objs.append((_with_expiry(status_at=text), now))
        expected.append(format_time(max(parse_time(text), now) + timedelta(hours=1)))
    # one interpreter per "now", so the batch stays a couple of processes
    for now in {now for _, now in objs}:
        batch = [i for i, (_, n) in enumerate(objs) if n == now]
        results = run_lua(EXTEND, [objs[i][0] for i in batch], now)
        for i, result in zip(batch, results, strict=True):
            assert result["spec"]["expiry"]["expiresAt"] == expected[i], objs[i][0]["status"]


# ----------------------------------------------------------------------------- wake


def test_wake_sets_the_annotation_to_now_and_clears_suspend() -> None:
    result = run_one(WAKE, fixture("parked-suspended"))
    assert result["metadata"]["annotations"] == {"sagemeter.io/wake": "2026-11-22T12:00:00Z"}
    assert result["spec"]["suspend"] is False


def test_wake_replaces_an_earlier_wake() -> None:
    obj = fixture("parked-idle")
    later = NOW + timedelta(days=400, seconds=7)
    result = run_one(WAKE, obj, later)
    assert result["metadata"]["annotations"]["sagemeter.io/wake"] == format_time(later)
    assert "suspend" not in result["spec"]


# ----------------------------------------------------------------------------- argocd-cm


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("argocd_generate", ARGOCD / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_argocd_cm_patch_is_generated_from_the_scripts() -> None:
    rendered = _generator().render()
    committed = (ARGOCD / "argocd-cm-patch.yaml").read_text()
    assert committed == rendered, (
        "deploy/argocd/argocd-cm-patch.yaml is stale: run"
        " `python deploy/argocd/generate.py > deploy/argocd/argocd-cm-patch.yaml`"
    )
    data = yaml.safe_load(committed)["data"]
    key = "sagemeter.io_ManagedEndpoint"
    assert data[f"resource.customizations.health.{key}"] == HEALTH.read_text()
    actions = yaml.safe_load(data[f"resource.customizations.actions.{key}"])
    assert actions["discovery.lua"] == DISCOVERY.read_text()
    assert {d["name"]: d["action.lua"] for d in actions["definitions"]} == {
        "extend-1h": EXTEND.read_text(),
        "wake": WAKE.read_text(),
    }
