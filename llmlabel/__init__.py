"""llmlabel: label data with LLMs by zero/few-shot prompting.

Public surface: ``label`` (a file in, an append-only JSONL out), ``label_records`` (in-memory
records), ``plan`` (dry run), ``iter_output``, ``evaluate`` (score an output against gold),
``export`` (a silver training set from an output) and the ``LLMLabelError`` tree.
"""

from llmlabel.api import (
    EvalResult,
    ExportResult,
    RunResult,
    evaluate,
    export,
    iter_output,
    label,
    label_records,
    plan,
)
from llmlabel.errors import LLMLabelError

__version__ = "0.1.0"
__all__ = [
    "EvalResult",
    "ExportResult",
    "LLMLabelError",
    "RunResult",
    "__version__",
    "evaluate",
    "export",
    "iter_output",
    "label",
    "label_records",
    "plan",
]
