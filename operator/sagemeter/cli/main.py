"""The `sagemeter` command: the operator, the CRD and admission-policy generators, and the
commands other installed distributions register (the sandbox)."""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from sagemeter import __version__

COMMANDS_GROUP = "sagemeter.commands"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sagemeter")
def cli() -> None:
    """sagemeter: SageMaker inference endpoints as Kubernetes objects, with a meter."""


@cli.command()
@click.option(
    "--kind",
    "kind_name",
    default="managedendpoints",
    show_default=True,
    help="Which CRD: managedendpoints, endpointpolicies (or a kind, singular or short name),"
    " or all (a multi-document stream).",
)
def crd(kind_name: str) -> None:
    """Print a CustomResourceDefinition generated from the API models."""
    from sagemeter.api.crd import KINDS, kind_named, render_crd_yaml

    if kind_name == "all":
        click.echo("---\n".join(render_crd_yaml(kind) for kind in KINDS), nl=False)
        return
    try:
        kind = kind_named(kind_name)
    except KeyError:
        raise click.BadParameter(
            f"unknown kind {kind_name!r}; one of {', '.join(k.plural for k in KINDS)}, all",
            param_hint="--kind",
        ) from None
    click.echo(render_crd_yaml(kind), nl=False)


@cli.command("admission-policy")
def admission_policy() -> None:
    """Print the ValidatingAdmissionPolicy that checks EndpointPolicy guardrails at admission."""
    from sagemeter.api.render import render_admission_policy_yaml

    click.echo(render_admission_policy_yaml(), nl=False)


@cli.command("config-reference")
def config_reference() -> None:
    """Print the configuration reference (Markdown) generated from the settings model."""
    from sagemeter.cli.reference import configuration_reference

    click.echo(configuration_reference(), nl=False)


def _register_subcommands() -> None:
    from sagemeter.cli.run import run

    cli.add_command(run)
    # Commands other distributions contribute: the sandbox (`sagemeter sandbox up|down|status`)
    # comes with the `sagemeter-sandbox` distribution, never with the operator's image.
    for entry in entry_points(group=COMMANDS_GROUP):
        try:
            command = entry.load()
        except ImportError:  # a distribution installed without its dependencies
            continue
        cli.add_command(command, entry.name)


_register_subcommands()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
