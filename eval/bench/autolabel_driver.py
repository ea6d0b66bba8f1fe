"""Run refuel-autolabel on a JSONL file and print one JSON line: records, seconds, labeled.

Runs inside autolabel's own venv (see ``eval/bench/autolabel.py``), never llmlabel's. The
endpoint comes from ``OPENAI_API_BASE`` (openai<1 reads it); autolabel's quirks are handled as
``shared/INTEGRATIONS.md`` says: the chat model name ``gpt-3.5-turbo``, no generation cache,
and the cost function (which downloads a tokenizer) patched out.

    python autolabel_driver.py INPUT.jsonl
"""

from __future__ import annotations

import json
import sys
import time

from autolabel import AutolabelDataset, LabelingAgent
from autolabel.models.openai import OpenAILLM

OpenAILLM.get_cost = lambda self, prompt, label="": 0.0  # type: ignore[method-assign]

CONFIG = {
    "task_name": "bench-sentiment",
    "task_type": "classification",
    "dataset": {"label_column": "label", "delimiter": ","},
    "model": {"provider": "openai", "name": "gpt-3.5-turbo"},
    "prompt": {
        "task_guidelines": (
            "Decide whether a short customer review is positive or negative.\nCategories:\n{labels}"
        ),
        "labels": ["positive", "negative"],
        "example_template": "Review: {text}\nLabel: {label}",
    },
}


def main() -> None:
    dataset = AutolabelDataset(sys.argv[1], CONFIG)
    agent = LabelingAgent(CONFIG, generation_cache=None, transform_cache=None, console_output=False)
    start = time.perf_counter()
    labeled = agent.run(dataset, skip_eval=True)
    seconds = time.perf_counter() - start
    column = next(c for c in labeled.df.columns if c.endswith("_label"))
    good = int((labeled.df[column] == "positive").sum())
    print(json.dumps({"records": len(labeled.df), "seconds": seconds, "labeled": good}))


if __name__ == "__main__":
    main()
