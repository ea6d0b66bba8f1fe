"""llmlabel: label data with LLMs by zero/few-shot prompting.

Public surface: ``label`` (a file in, an append-only JSONL out), ``label_records`` (in-memory
records), ``Labeler`` / ``alabel`` (lists, DataFrames, datasets in notebooks, the model kept
loaded), ``plan`` (dry run), ``iter_output``, ``evaluate`` (score an output against gold),
``export`` (a silver training set from an output), ``calibrate`` (fit a confidence calibration
and keep/review threshold on gold), ``compare`` (variants of a task on the same gold records,
with paired significance), ``tune`` (search prompt settings on a dev split, scored once on
held-out) and the ``LLMLabelError`` tree.
"""

from llmlabel._version import __version__
from llmlabel.api import (
    CalibrateResult,
    CompareResult,
    EvalResult,
    ExportResult,
    RunResult,
    TuneResult,
    calibrate,
    compare,
    evaluate,
    export,
    iter_output,
    label,
    label_records,
    plan,
    preview,
    tune,
)
from llmlabel.errors import LLMLabelError
from llmlabel.runs.labeler import Labeler, alabel

__all__ = [
    "CalibrateResult",
    "CompareResult",
    "EvalResult",
    "ExportResult",
    "LLMLabelError",
    "Labeler",
    "RunResult",
    "TuneResult",
    "__version__",
    "alabel",
    "calibrate",
    "compare",
    "evaluate",
    "export",
    "iter_output",
    "label",
    "label_records",
    "plan",
    "preview",
    "tune",
]
