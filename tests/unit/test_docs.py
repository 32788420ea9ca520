"""Generated docs stay in step with the code they describe."""

from __future__ import annotations

from pathlib import Path

from sagemeter.cli.reference import configuration_reference
from sagemeter.runtime.settings import Settings

ROOT = Path(__file__).parents[2]


def test_configuration_reference_is_current() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text()
    assert committed == configuration_reference(), (
        "docs/configuration.md is stale: run `sagemeter config-reference > docs/configuration.md`"
    )


def test_every_setting_is_documented_and_described() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for name, field in Settings.model_fields.items():
        assert field.description, name
        assert f"SAGEMETER_{name.upper()}" in text


def test_readme_opens_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    assert readme.index("make demo") < readme.index("## ")  # before the first section
