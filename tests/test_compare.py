"""`llmlabel compare` end to end on the real SmolLM2 model, and its one-line errors."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.core.significance import mcnemar_exact
from llmlabel.errors import ConfigError, InputError, JoinError
from llmlabel.io.plots import PNG_SIGNATURE, png_size
from tests.test_cli import ROOT, assert_one_line_error
from tests.test_cli import llmlabel as cli

TASK = ROOT / "examples" / "sentiment" / "task.yaml"
# A fixture gold set written for these tests: the task's field and the gold label in one row.
GOLD = [
    ("g01", "Arrived early and works perfectly, I would buy it again.", "positive"),
    ("g02", "The zipper broke the first time I used the bag.", "negative"),
    ("g03", "Lovely staff, spotless room, great breakfast.", "positive"),
    ("g04", "Cold food, rude waiter, and we waited an hour.", "negative"),
    ("g05", "The headphones sound rich and the battery lasts all week.", "positive"),
    ("g06", "It stopped working after two days and support ignored me.", "negative"),
    ("g07", "Setup took five minutes and the picture is stunning.", "positive"),
    ("g08", "Refund still not processed after a month of emails.", "negative"),
    ("g09", "Comfortable shoes, I walk in them all day without pain.", "positive"),
    ("g10", "The screen cracked in its box; a waste of money.", "negative"),
]
COMPARE = """\
task: {task}
shared: {{backend.model: smollm2-135m, samples: 1}}
variants:
  zero-shot: {{examples.k: 0}}
  four-shot:
    examples: {{k: 4, strategy: label_balanced}}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def fixtures(tmp_path: Path, compare: str = COMPARE) -> tuple[Path, Path]:
    rows = [{"id": i, "text": t, "label": g} for i, t, g in GOLD]
    gold = write(tmp_path / "gold.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return write(tmp_path / "compare.yaml", compare.format(task=TASK)), gold


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_compare_zero_vs_four_shot_on_smollm2(tmp_path: Path, smollm2_path: Path) -> None:
    compare, gold = fixtures(tmp_path)
    report = tmp_path / "report"
    cache = tmp_path / "cache.sqlite"
    args = ["compare", str(compare), "--gold", str(gold), "--report", str(report)]
    result = cli(*args, "--cache", str(cache), "--resamples", "300")
    assert result.returncode == 0, result.stderr
    assert "zero-shot" in result.stdout and "four-shot vs zero-shot" in result.stdout
    assert "variant 2/2: four-shot" in result.stderr

    summary = json.loads((report / "summary.json").read_text())
    assert summary["records"] == 10 and summary["kind"] == "classification"
    assert [v["name"] for v in summary["variants"]] == ["zero-shot", "four-shot"]
    assert summary["variants"][1]["overrides"] == {
        "examples.k": 4, "examples.strategy": "label_balanced"
    }  # fmt: skip
    gold_labels = {i: g for i, _, g in GOLD}
    right = {}
    for name in ("zero-shot", "four-shot"):
        rows = read_jsonl(report / "predictions" / f"{name}.jsonl")
        assert sorted(r["id"] for r in rows) == sorted(gold_labels)
        assert {len(r["examples"]) for r in rows} == {0 if name == "zero-shot" else 4}
        right[name] = {r["id"] for r in rows if r["label"] == gold_labels[r["id"]]}
        variant = next(v for v in summary["variants"] if v["name"] == name)
        assert variant["summary"]["correct"] == len(right[name])
        assert variant["cost"]["prompt_tokens"] > 0
    (pair,) = summary["pairs"]
    assert (pair["a"], pair["b"]) == ("zero-shot", "four-shot")
    assert set(pair["right_to_wrong"]) == right["zero-shot"] - right["four-shot"]
    assert set(pair["wrong_to_right"]) == right["four-shot"] - right["zero-shot"]
    expected = mcnemar_exact(len(pair["right_to_wrong"]), len(pair["wrong_to_right"]))
    assert pair["mcnemar"]["p_value"] == pytest.approx(expected.p_value)
    assert pair["mcnemar"]["p_adjusted"] == pytest.approx(expected.p_value)  # one pair
    accuracy = next(d for d in pair["deltas"] if d["statistic"] == "accuracy")
    assert accuracy["delta"] == pytest.approx(
        (len(right["four-shot"]) - len(right["zero-shot"])) / 10
    )

    markdown = (report / "report.md").read_text()
    for heading in ("## Leaderboard", "## Paired significance", "## four-shot vs zero-shot",
                    "## Calibration and coverage", "## Confusion matrices"):  # fmt: skip
        assert heading in markdown
    html = (report / "report.html").read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    names = {p.stem for p in (report / "plots").iterdir()}
    assert names == {"leaderboard", "per_class_f1", "reliability", "coverage",
                     "confusion-zero-shot", "confusion-four-shot"}  # fmt: skip
    assert len(images) == len(names)
    for data in images:
        png = base64.b64decode(data, validate=True)
        assert png.startswith(PNG_SIGNATURE) and min(png_size(png)) >= 150

    # Rerun through the API: every answer comes from the cache, so the numbers are identical.
    again = llmlabel.compare(compare, gold, cache=cache, resamples=300)
    assert again.report is None
    assert again.comparison.model_dump(mode="json")["pairs"] == summary["pairs"]


def test_limit_draws_one_seeded_sample_for_every_variant(tmp_path: Path) -> None:
    from llmlabel.commands.compare import sample

    picked = sample(10, 4, seed=3)
    assert picked == sorted(picked) and len(set(picked)) == 4
    assert picked == sample(10, 4, seed=3) != sample(10, 4, seed=4)
    assert sample(10, None, seed=3) == sample(10, 20, seed=3) == list(range(10))


@pytest.mark.parametrize(
    ("compare", "needles"),
    [
        ("task: {task}\nvariants: {{only: {{samples: 1}}}}\n", ["variants", "at least 2"]),
        ("task: {task}\nvariant: {{}}\n", ["variant", "Extra inputs"]),
        (
            "task: {task}\nvariants:\n  a: {{samples: 1}}\n  a: {{samples: 2}}\n",
            ["key 'a' appears twice", "compare.yaml:4"],
        ),
        (
            "task: {task}\nvariants: {{a: {{labels: [x, y]}}, b: {{}}}}\n",
            ["variant 'a'", "cannot set 'labels'"],
        ),
        (
            "task: {task}\nvariants: {{a: {{sampels: 2}}, b: {{}}}}\n",
            ["variant 'a'", "unknown key 'sampels'", "did you mean 'samples'"],
        ),
        ("task: nowhere.yaml\nvariants: {{a: {{}}, b: {{}}}}\n", ["nowhere.yaml not found"]),
        ("task: {task}\nvariants: {{a b: {{}}, b: {{}}}}\n", ["variant 'a b'", "letters"]),
    ],
)
def test_a_bad_compare_file_is_a_one_line_error(
    tmp_path: Path, compare: str, needles: list[str]
) -> None:
    compare_file, gold = fixtures(tmp_path, compare)
    result = cli("compare", str(compare_file), "--gold", str(gold))
    assert_one_line_error(result, *needles)


def test_gold_without_the_fields_needs_input_and_input_must_hold_every_gold_id(
    tmp_path: Path,
) -> None:
    compare, _ = fixtures(tmp_path)
    labels_only = write(tmp_path / "labels.jsonl", '{"id": "g01", "label": "positive"}\n')
    with pytest.raises(InputError, match="no field 'text'") as caught:
        llmlabel.compare(compare, labels_only)
    assert caught.value.hint == "pass --input with the records (joined by id)"
    records = write(tmp_path / "records.jsonl", '{"id": "g02", "text": "fine"}\n')
    with pytest.raises(JoinError, match="1 of 1 gold ids are not in"):
        llmlabel.compare(compare, labels_only, input=records)
    with pytest.raises(ConfigError, match="compare file not found"):
        llmlabel.compare(tmp_path / "missing.yaml", labels_only)
