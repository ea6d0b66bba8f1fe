"""Smoke tests of the eval/ scripts: they run end to end with tiny numbers (no timing checks)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EVAL = REPO / "eval"


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_bench_overhead_runs(tmp_path: Path) -> None:
    report = tmp_path / "bench_overhead.md"
    result = _run(
        [str(EVAL / "bench_overhead.py"), "--records", "50", "--rounds", "1", "--out", str(report)]
    )
    assert re.search(r"^ratio llmlabel/baseline .*: \d+\.\d\d", result.stdout, re.M), result.stdout
    text = report.read_text(encoding="utf-8")
    assert "| round |" in text and "Median ratio" in text and "--records 50" in text


def test_bench_own_cpu_compares_two_checkouts(tmp_path: Path) -> None:
    # this checkout against itself: both sides run, the ratio is printed
    script = str(EVAL / "bench_own_cpu.py")
    result = _run([script, "--records", "300", "--rounds", "1", "--against", str(REPO)])
    assert re.search(r"^ratio this checkout / other: \d+\.\d\d$", result.stdout, re.M)
    assert result.stdout.count("median") == 2


def test_gold_script_runs(tmp_path: Path, smollm2_path: Path) -> None:
    suite = tmp_path / "gold" / "sst2"
    suite.mkdir(parents=True)
    texts = {
        "positive": ["a gorgeous , witty film .", "the best movie of the year .", "pure joy ."],
        "negative": ["a dull , tedious mess .", "painfully unfunny .", "a waste of two hours ."],
    }
    for split in ("test", "dev"):
        rows = [
            {"id": f"{split}-{label}-{i}", "text": text, "label": label}
            for i in range(3)
            for label, items in texts.items()
            for text in [items[i]]
        ]
        (suite / f"{split}.jsonl").write_text(
            "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
        )
    report = tmp_path / "sst2.md"
    args = ["--suite", "sst2", "--model", str(smollm2_path), "--limit", "5"]
    args += ["--shots", "0", "--samples", "1"]
    args += ["--workdir", str(tmp_path / "raw"), "--out", str(report)]
    result = _run([str(EVAL / "gold.py"), *args], env={"LLMLABEL_GOLD_DIR": str(tmp_path / "gold")})

    assert "| variant | accuracy (95% CI) |" in result.stdout, result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("| 0-shot"))
    assert re.search(r"\d/5 \|", row), row  # five records scored, joined by id
    text = report.read_text(encoding="utf-8")
    assert "Command: `python eval/gold.py --suite sst2" in text and "Date: " in text


def test_gold_kinds_script_scores_relations_with_a_template_and_a_pool(
    tmp_path: Path, smollm2_path: Path
) -> None:
    suite = tmp_path / "gold" / "semeval2010_task8"
    suite.mkdir(parents=True)
    sentences = [
        ("The fire was caused by a cigarette.", "fire", "cigarette", "Cause-Effect(e2,e1)"),
        ("The keys are in the drawer.", "keys", "drawer", "Content-Container(e1,e2)"),
        ("The author wrote a novel.", "author", "novel", "Product-Producer(e2,e1)"),
        ("A dog barked at the mailman.", "dog", "mailman", "Other"),
    ]
    rows = []
    for i, (text, head, tail, label) in enumerate(sentences):
        span = [
            {"start": text.index(w), "end": text.index(w) + len(w), "text": w} for w in (head, tail)
        ]
        rows.append(
            {
                "id": f"s{i}",
                "text": text,
                "head": span[0],
                "tail": span[1],
                "relation_directed": label,
            }
        )
    (suite / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    report = tmp_path / "semeval.md"
    args = ["--suite", "semeval2010_task8", "--model", str(smollm2_path), "--limit", "2"]
    args += ["--shots", "2", "--strategy", "random", "--template", "relation.v1"]
    args += ["--workdir", str(tmp_path / "raw"), "--out", str(report)]
    env = {"LLMLABEL_GOLD_DIR": str(tmp_path / "gold")}
    result = _run([str(EVAL / "gold_kinds.py"), *args], env=env)

    text = report.read_text(encoding="utf-8")
    assert "macro-F1 excluding Other" in result.stdout
    assert "with template `relation.v1`" in text and "2-shot random" in text
    assert "2 records of `semeval2010_task8/test.jsonl`" in text
    assert "Few-shot examples from the 2 test.jsonl records not scored" in text
    assert "2.0 examples shown per record on average" in text
    assert re.search(r"^\| macro-F1 excluding Other \| \d\.\d{3} \|", text, re.M), text
    [output] = (tmp_path / "raw").glob("*-relation.v1-2shot-random-1s-2-seed0.jsonl")
    assert len(output.read_text(encoding="utf-8").splitlines()) == 2


def test_adaptive_bench_reuses_the_fixed_runs_samples(tmp_path: Path, smollm2_path: Path) -> None:
    suite = tmp_path / "gold" / "sst2"
    suite.mkdir(parents=True)
    texts = ["a gorgeous , witty film .", "a dull , tedious mess .", "pure joy .", "unfunny ."]
    rows = [
        {"id": f"t{i}", "text": text, "label": "positive" if i % 2 == 0 else "negative"}
        for i, text in enumerate(texts)
    ]
    (suite / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = tmp_path / "adaptive.md"
    args = ["--suite", "sst2", "--model", str(smollm2_path), "--limit", "4", "--max", "4"]
    args += ["--min", "2", "--batch", "1", "--workdir", str(tmp_path / "raw")]
    args += ["--out", str(report)]
    result = _run(
        [str(EVAL / "bench" / "adaptive.py"), *args],
        env={"LLMLABEL_GOLD_DIR": str(tmp_path / "gold")},
    )
    assert "adaptive run: 0 model calls" in result.stdout, result.stdout
    text = report.read_text(encoding="utf-8")
    assert "| fixed |" in text and "| adaptive |" in text and "Samples used:" in text
    fixed = [
        json.loads(line)
        for line in (tmp_path / "raw" / "fixed.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert all(sum(r["votes"].values()) + len(r["invalid"]) == 4 for r in fixed)


def test_bench_cache_reruns_make_no_model_calls(tmp_path: Path) -> None:
    report = tmp_path / "bench_cache.md"
    result = _run([str(EVAL / "bench" / "cache.py"), "--records", "60", "--out", str(report)])
    assert "re-run (--resume): 60 records" in result.stdout, result.stdout
    text = report.read_text(encoding="utf-8")
    assert "| first run |" in text and "Labels identical to the first run's: yes" in text
    assert re.search(r"\*\*Re-run: 0 model calls, .* cache kept: 0 model calls", text), text


def test_bench_embedded_runs(tmp_path: Path, smollm2_path: Path) -> None:
    report = tmp_path / "bench_embedded.md"
    args = ["--model", str(smollm2_path), "--records", "2", "--rounds", "1", "--parallel", "2"]
    result = _run([str(EVAL / "bench" / "embedded.py"), *args, "--out", str(report)])
    assert re.search(r"^ratio llmlabel/raw .*: \d+\.\d\d", result.stdout, re.M), result.stdout
    text = report.read_text(encoding="utf-8")
    assert "| 1 | raw first |" in text and "Median ratio llmlabel ÷ raw" in text


def test_bench_prefix_counts_evaluated_prompt_tokens(tmp_path: Path, smollm2_path: Path) -> None:
    report = tmp_path / "bench_prefix.md"
    args = ["--model", str(smollm2_path), "--records", "2", "--samples", "3", "--parallel", "2"]
    _run([str(EVAL / "bench" / "prefix.py"), *args, "--out", str(report)])
    text = report.read_text(encoding="utf-8")
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")
        for line in text.splitlines()
        if line.startswith("| ") and "variant" not in line
    }
    assert set(rows) == {
        "n per request (default)",
        "one request per sample",
        "semantic few-shot, n per request",
    }
    default, separate = rows["n per request (default)"], rows["one request per sample"]
    assert default[1] == "2.0" and separate[1] == "3.0"  # requests per record: 2+1, 1+1+1
    assert 0 < float(default[4]) < float(default[3])  # evaluated < naive: n and the prefix cache


def _tiny_sst2(tmp_path: Path) -> Path:
    suite = tmp_path / "gold" / "sst2"
    suite.mkdir(parents=True)
    texts = [
        "a gorgeous , witty film .",
        "a dull , tedious mess .",
        "pure joy .",
        "painfully unfunny .",
    ]
    rows = [
        {"id": f"t{i}", "text": text, "label": "positive" if i % 2 == 0 else "negative"}
        for i, text in enumerate(texts * 2)
    ]
    (suite / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path / "gold"


def test_confidence_script_compares_the_methods(tmp_path: Path, smollm2_path: Path) -> None:
    gold = _tiny_sst2(tmp_path)
    report = tmp_path / "confidence.md"
    args = ["--suites", "sst2", "--limit", "8", "--model", str(smollm2_path)]
    args += ["--workdir", str(tmp_path / "raw"), "--out", str(report)]
    _run([str(EVAL / "confidence.py"), *args], env={"LLMLABEL_GOLD_DIR": str(gold)})
    text = report.read_text(encoding="utf-8")
    for method in ("vote@3", "logprob@1", "logprob+bc", "vote@3+logprob", "vote@3+logprob+bc"):
        assert f"| sst2 | {method} |" in text
    assert "## Means over the suites" in text and "Command: `python eval/confidence.py" in text


def test_confidence_script_runs_votes_under_another_sampler(
    tmp_path: Path, smollm2_path: Path
) -> None:
    gold = _tiny_sst2(tmp_path)
    report = tmp_path / "confidence.md"
    args = ["--suites", "sst2", "--limit", "4", "--model", str(smollm2_path)]
    args += ["--methods", "vote@3", "--sampler", "top_k=40,top_p=0.95,min_p=0.05"]
    args += ["--workdir", str(tmp_path / "raw"), "--out", str(report)]
    _run([str(EVAL / "confidence.py"), *args], env={"LLMLABEL_GOLD_DIR": str(gold)})
    text = report.read_text(encoding="utf-8")
    assert "| sst2 | vote@3 |" in text and "| sst2 | logprob@1 |" not in text
    assert "Sampler: top_k 40, top_p 0.95, min_p 0.05." in text
    outputs = sorted(p.name for p in (tmp_path / "raw" / "sst2").glob("*.jsonl"))
    assert outputs == ["default-3s-top_k40-top_p0.95-min_p0.05-4-seed0.jsonl"]  # no greedy run
    lines = (tmp_path / "raw" / "sst2" / outputs[0]).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    samplers = {json.dumps(row["provenance"]["sampler"], sort_keys=True) for row in rows}
    assert samplers == {json.dumps({"min_p": 0.05, "top_k": 40, "top_p": 0.95}, sort_keys=True)}


def test_confidence_cost_bench_runs(tmp_path: Path, smollm2_path: Path) -> None:
    gold = _tiny_sst2(tmp_path)
    args = ["--suite", "sst2", "--records", "4", "--rounds", "2", "--model", str(smollm2_path)]
    result = _run(
        [str(EVAL / "bench" / "confidence_cost.py"), *args], env={"LLMLABEL_GOLD_DIR": str(gold)}
    )
    assert "ratio logprob / vote:" in result.stdout
