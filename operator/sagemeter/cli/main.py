"""The `sagemeter` command: the operator, the CRD generator and the local sandbox."""

from __future__ import annotations

import click

from sagemeter import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sagemeter")
def cli() -> None:
    """sagemeter: SageMaker inference endpoints as Kubernetes objects, with a meter."""


@cli.command()
def crd() -> None:
    """Print the ManagedEndpoint CustomResourceDefinition generated from the API models."""
    from sagemeter.api.crd import render_crd_yaml

    click.echo(render_crd_yaml(), nl=False)


@cli.command("config-reference")
def config_reference() -> None:
    """Print the configuration reference (Markdown) generated from the settings model."""
    from sagemeter.cli.reference import configuration_reference

    click.echo(configuration_reference(), nl=False)


def _register_subcommands() -> None:
    from sagemeter.cli.run import run
    from sagemeter.cli.sandbox import sandbox

    cli.add_command(run)
    cli.add_command(sandbox)


_register_subcommands()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
