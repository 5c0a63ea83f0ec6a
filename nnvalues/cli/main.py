"""Entry point: builds the app from the command modules and turns errors into one line."""

from __future__ import annotations

import sys

import click
import typer

from nnvalues.cli import (  # noqa: F401  (modules that add commands to the dataset app)
    baselines_cmd,
    cube_cmd,
    dataset_check_cmd,
    dataset_cmd,
    dataset_generate_cmd,
    evalsets_cmd,
    evaluate_cmd,
    intervene_cmd,
    locate_cmd,
    models_cmd,
    report_cmd,
    select_cmd,
)
from nnvalues.cli.output import quiet_libraries
from nnvalues.errors import NnvaluesError, as_flags

cli = typer.Typer(
    name="nnvalues",
    help="Find, store and edit the MLP neurons that carry human values in language models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cli.command("models")(models_cmd.models)
cli.command("locate")(locate_cmd.locate)
for module in (select_cmd, intervene_cmd, evaluate_cmd, report_cmd):
    for name, function in getattr(module, "COMMANDS", {}).items():
        cli.command(name)(function)
cli.add_typer(cube_cmd.app, name="cube")
cli.add_typer(dataset_cmd.app, name="dataset")
cli.add_typer(baselines_cmd.app, name="baselines")


def app() -> None:
    """Run the CLI; every expected failure ends as one line on stderr and a non-zero exit."""
    quiet_libraries()
    command = typer.main.get_command(cli)
    try:
        code = command.main(args=sys.argv[1:], prog_name="nnvalues", standalone_mode=False)
    except NnvaluesError as exc:
        print(f"error: {as_flags(str(exc))}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        print("interrupted: finished batches are kept; rerun the same command to resume",
              file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    app()
