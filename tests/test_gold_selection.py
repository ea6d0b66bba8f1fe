"""eval/gold.py comparing few-shot strategies: seeded sampling, the pool split, the paired
statistics by hand, and a tiny real run on SmolLM2."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
GOLD = REPO / "eval" / "gold.py"
NEWS = [
    ("Sports", "The striker scored twice as United won the cup final."),
    ("Sports", "The champion retained her tennis title in three sets."),
    ("Business", "Shares of the carmaker fell after weak quarterly earnings."),
    ("Business", "The central bank raised interest rates to curb inflation."),
    ("Sci/Tech", "A new chip doubles battery life in laptops, the company said."),
    ("Sci/Tech", "Astronomers found water ice on a distant moon."),
    ("World", "Leaders met in Geneva to negotiate a ceasefire."),
    ("World", "Floods forced thousands from their homes in the delta."),
]


def gold_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_gold", GOLD)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def write_suite(root: Path) -> Path:
    suite = root / "ag_news"
    suite.mkdir(parents=True)
    rows = [{"id": f"n{i}", "text": text, "label": label} for i, (label, text) in enumerate(NEWS)]
    (suite / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return suite


def test_mcnemar_exact_p_by_hand() -> None:
    gold = gold_module()
    assert gold.mcnemar(0, 0) == 1.0
    assert gold.mcnemar(0, 2) == 0.5  # 2 * (1/4)
    assert gold.mcnemar(9, 1) == gold.mcnemar(1, 9) == 2 * (1 + 10) / 2**10


def test_a_seeded_sample_is_scored_and_the_rest_is_the_pool(tmp_path: Path) -> None:
    gold = gold_module()
    suite = write_suite(tmp_path)
    scored = gold.scored_records(suite / "test.jsonl", 3, 5)
    assert scored == gold.scored_records(suite / "test.jsonl", 3, 5)
    ids = [row["id"] for row in scored]
    assert len(set(ids)) == 3 and ids == sorted(ids, key=lambda i: int(i[1:]))  # file order
    pool, what = gold.examples_file(suite, set(ids), tmp_path)
    pool_ids = [json.loads(line)["id"] for line in pool.read_text().splitlines()]
    assert sorted(pool_ids + ids, key=lambda i: int(i[1:])) == [f"n{i}" for i in range(8)]
    assert "5 test.jsonl records not scored" in what


def test_strategies_compared_on_the_same_records(tmp_path: Path, smollm2_path: Path) -> None:
    write_suite(tmp_path / "gold")
    report = tmp_path / "report.md"
    args = ["--suite", "ag_news", "--model", str(smollm2_path), "--limit", "3"]
    args += ["--sample-seed", "1", "--shots", "2", "--strategies", "random,semantic"]
    args += ["--workdir", str(tmp_path / "raw"), "--out", str(report)]
    result = subprocess.run(
        [sys.executable, str(GOLD), *args],
        cwd=REPO,
        env={**os.environ, "LLMLABEL_GOLD_DIR": str(tmp_path / "gold")},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    assert "3 records drawn at random (seed 1)" in text and "(random, semantic)" in text
    assert "| 2-shot random, 1 sample |" in text and "| 2-shot semantic, 1 sample |" in text
    assert "| 2-shot semantic, 1 sample − 2-shot random, 1 sample |" in text
    [semantic] = (tmp_path / "raw").glob("*-2shot-semantic-1s-3-seed1.jsonl")
    rows = [json.loads(line) for line in semantic.read_text().splitlines()]
    assert len(rows) == 3 and all(
        r["provenance"]["examples"]["strategy"] == "semantic" for r in rows
    )
    assert all(r["id"] not in r["examples"] for r in rows)
