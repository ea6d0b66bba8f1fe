"""llmlabel: label data with LLMs by zero/few-shot prompting."""

__version__ = "0.1.0"
