"""Entry point: builds the app from the command modules and turns errors into one line."""

from __future__ import annotations

import sys
import warnings
from typing import NoReturn

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
from nnvalues.errors import NnvaluesError, as_flags, redact

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


INTERRUPTED = "interrupted: finished batches are kept; rerun the same command to resume"


def _click_classes(name: str) -> tuple[type[BaseException], ...]:
    """`name` from click and from the copy of click that typer >= 0.26 bundles."""
    modules = [click.exceptions]
    try:
        from typer._click import exceptions as bundled
    except ImportError:
        pass
    else:
        modules.append(bundled)
    return tuple({getattr(m, name) for m in modules if hasattr(m, name)})


NO_ARGS = _click_classes("NoArgsIsHelpError")
USAGE = _click_classes("UsageError")
CLICK = _click_classes("ClickException")
ABORT = _click_classes("Abort")


def fail(message: str, code: int) -> NoReturn:
    print(f"error: {redact(message)}", file=sys.stderr)
    sys.exit(code)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    print(f"warning: {redact(str(message))}", file=sys.stderr)


def app() -> None:
    """Run the CLI; every expected failure ends as one line on stderr and a non-zero exit:
    2 for usage errors, 1 for the rest, 130 for Ctrl-C."""
    quiet_libraries()
    warnings.showwarning = _show_warning
    command = typer.main.get_command(cli)
    try:
        code = command.main(args=sys.argv[1:], prog_name="nnvalues", standalone_mode=False)
    except NO_ARGS as exc:  # a bare `nnvalues` or `nnvalues cube`: the help is the answer
        text = exc.ctx.get_help()  # type: ignore[attr-defined]  (rich help prints itself)
        if text:
            print(text)
        sys.exit(0)
    except NnvaluesError as exc:
        fail(as_flags(str(exc)), exc.exit_code)
    except USAGE as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (try '{ctx.command_path} --help')" if ctx is not None else ""
        fail(f"{exc.format_message()}{hint}", 2)  # type: ignore[attr-defined]
    except CLICK as exc:
        fail(exc.format_message(), exc.exit_code)  # type: ignore[attr-defined]
    except (*ABORT, KeyboardInterrupt):
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except OSError as exc:  # the system refused something: a full disk, a permission
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), 1)
    if code == 130:  # typer turns Ctrl-C into Exit(130)
        print(INTERRUPTED, file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    app()
