"""`sagemeter run`'s flags: a boolean setting works bare (`--dry-run`) and with `--no-`, and a
value the operator cannot take ends it with one line naming the setting and what it accepts."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from sagemeter.cli import startup
from sagemeter.cli.run import run, setting_flags
from sagemeter.runtime.settings import Settings

BOOLEANS = [name for name, f in Settings.model_fields.items() if f.annotation is bool]


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The settings `run` would start with (it stops right after parsing them)."""
    captured: dict[str, Any] = {}

    def check(overrides: dict[str, Any], *_: Any, **__: Any) -> Settings:
        captured.update(startup.parse_settings(overrides).model_dump())
        raise startup.StartupError("stopped by the test")

    monkeypatch.setattr(startup, "check_startup", check)
    return captured


def test_every_boolean_setting_is_a_bare_flag() -> None:
    assert set(BOOLEANS) >= {"dry_run", "require_policy", "allow_unauthenticated_routes"}
    for name in BOOLEANS:
        flag = name.replace("_", "-")
        assert setting_flags(name) == f"--{flag}/--no-{flag}"


@pytest.mark.parametrize("name", BOOLEANS)
def test_a_bare_boolean_flag_turns_it_on_and_no_turns_it_off(
    name: str, seen: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    flag = name.replace("_", "-")
    assert CliRunner().invoke(run, [f"--{flag}"]).exit_code == 1
    assert seen[name] is True
    monkeypatch.setenv(f"SAGEMETER_{name.upper()}", "true")
    assert CliRunner().invoke(run, [f"--no-{flag}"]).exit_code == 1
    assert seen[name] is False  # the flag wins over the variable
    CliRunner().invoke(run, [])
    assert seen[name] is True  # no flag: the variable


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--log-format", "yaml"],
            "bad setting --log-format (SAGEMETER_LOG_FORMAT): 'yaml' must be 'text' or 'json'",
        ),
        (
            ["--sync-interval", "0s"],
            "bad setting --sync-interval (SAGEMETER_SYNC_INTERVAL): '0s' is too short; an"
            " interval of at least 1s (write one or more <number><unit> with units s, m, h, d, w,"
            " such as 90m or 1h30m)",
        ),
        (
            ["--default-ttl", "tomorrow"],
            "bad setting --default-ttl (SAGEMETER_DEFAULT_TTL): 'tomorrow' is not a duration;"
            " write one or more <number><unit> with units s, m, h, d, w, such as 90m or 1h30m",
        ),
        (
            ["--metrics-port", "99999"],
            "bad setting --metrics-port (SAGEMETER_METRICS_PORT): '99999' must be less than or"
            " equal to 65535",
        ),
    ],
)
def test_an_invalid_setting_is_one_line_naming_it(args: list[str], line: str) -> None:
    done = CliRunner().invoke(run, args)
    assert done.exit_code == 1
    assert done.stderr == f"sagemeter: cannot start: {line}\n"
    assert "validation error" not in done.output and "pydantic" not in done.output
