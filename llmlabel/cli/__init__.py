"""Command line: a thin typer layer over ``llmlabel.api``, one module per group of commands.

``app`` holds the typer app and ``main``; importing the command modules registers their
commands (in the order ``llmlabel --help`` lists them).
"""

from llmlabel.cli.app import app, main  # noqa: I001  (the order below is the help's)
from llmlabel.cli import labeling  # noqa: F401  run, preview
from llmlabel.cli import quality  # noqa: F401  eval, compare, tune, calibrate
from llmlabel.cli import setup  # noqa: F401  serve-check, models
from llmlabel.cli import data  # noqa: F401  export, review, merge, distill, audit

__all__ = ["app", "main"]
