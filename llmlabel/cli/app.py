"""The ``llmlabel`` typer app, its consoles and ``main``: errors print ``error: <message>`` and
``hint: <hint>`` and exit non-zero; ``--debug`` (anywhere on the command line, or
``LLMLABEL_DEBUG=1``) shows the traceback instead. The commands live beside this module."""

from __future__ import annotations

import importlib
import os
import signal
import sys
from types import FrameType
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.text import Text

from llmlabel._version import __version__
from llmlabel.errors import LLMLabelError, clean


def _typer_click_errors() -> tuple[type[Exception], ...]:
    """Newer typer releases vendor click: their usage errors are not ``click.ClickException``."""
    try:
        vendored = importlib.import_module("typer._click.exceptions")
    except ImportError:
        return ()
    return (vendored.ClickException,)


_EXIT = (click.exceptions.Exit, typer.Exit)

_ABORT = (click.exceptions.Abort, typer.Abort)

_CLICK_ERROR: tuple[type[Exception], ...] = (click.ClickException, *_typer_click_errors())

app = typer.Typer(
    help="Label data with LLMs: validated answers, voted confidence, resumable runs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

models_app = typer.Typer(help="List and download the embedded models.", no_args_is_help=True)

app.add_typer(models_app, name="models")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmlabel {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, Opt("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Label data with LLMs: validated answers, voted confidence, resumable runs."""


# Paths, labels and model names are printed as given: "[/]" in one is text, not rich markup.
out = Console(markup=False, emoji=False)

err = Console(stderr=True, markup=False, emoji=False)

Opt = typer.Option


def comma_list(text: str | None) -> list[str] | None:
    """A comma-separated option as a list (None when not given)."""
    return None if text is None else [name.strip() for name in text.split(",") if name.strip()]


def num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _print_error(exc: LLMLabelError) -> None:
    """One line, whatever the message holds: markup is not interpreted, newlines are escaped."""
    text = exc.one_line() + (f"; hint: {exc.hint}" if exc.hint else "")
    line = Text("error:", style="red").append(" " + _one_line(text))
    err.print(line, highlight=False, soft_wrap=True)


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


class _Stop:
    """The signal that interrupted the command: its exit status is 128 + its number."""

    received = signal.SIGINT

    @classmethod
    def on_sigterm(cls, signum: int, frame: FrameType | None) -> None:
        """Stop as Ctrl-C does (in a run: in-flight rows are written, the manifest says
        ``interrupted``), but exit with 143."""
        cls.received = signal.Signals(signum)
        handler = signal.getsignal(signal.SIGINT)
        if not callable(handler):  # SIGINT ignored (a background job): stop here
            raise KeyboardInterrupt
        handler(signal.SIGINT, frame)  # Python's raises; asyncio's cancels the run cleanly


PATH = "check the path (a name at most 255 bytes, no symlink loop) and its permissions"


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("LLMLABEL_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    signal.signal(signal.SIGTERM, _Stop.on_sigterm)
    try:
        code = app(args=args, prog_name="llmlabel", standalone_mode=False)
    except LLMLabelError as exc:
        if debug:
            raise
        _print_error(exc)
        sys.exit(exc.exit_code)
    except _EXIT as exc:
        sys.exit(exc.exit_code)
    except _CLICK_ERROR as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(exc.exit_code)  # type: ignore[attr-defined]
    except (*_ABORT, KeyboardInterrupt):
        err.print("interrupted")
        sys.exit(128 + _Stop.received)
    except OSError as exc:
        if debug or exc.filename is None:
            raise
        # A path the system refuses where no check expected it (a name too long, a symlink
        # loop): the path is what is wrong, not llmlabel.
        _print_error(LLMLabelError(exc.strerror or str(exc), where=str(exc.filename), hint=PATH))
        sys.exit(2)
    except Exception as exc:
        if debug:
            raise
        said = _one_line(clean(f"unexpected {type(exc).__name__}: {exc}"))
        err.print(Text("error:", style="red").append(" " + said), highlight=False, soft_wrap=True)
        err.print("hint: rerun with --debug for the traceback, and please report it")
        sys.exit(2)
    if code == 130:  # typer's status for a KeyboardInterrupt, whichever signal raised it
        code = 128 + _Stop.received
    sys.exit(code if isinstance(code, int) else 0)
