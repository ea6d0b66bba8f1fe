"""`llmlabel audit`: flagged gold records, calibration, and one-line errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import llmlabel.api as api
from llmlabel.errors import ConfigError, InputError, OutputError
from tests.test_cli import assert_one_line_error, llmlabel

ROOT = Path(__file__).resolve().parent.parent
SENTIMENT = ROOT / "examples" / "sentiment"
PREDICTIONS = SENTIMENT / "predictions.sample.jsonl"
GOLD = SENTIMENT / "reviews.gold.jsonl"
NOISY = SENTIMENT / "reviews.noisy.jsonl"
"""The gold file with r09, r16 and r33 flipped on purpose."""


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def write(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    return path


def test_help() -> None:
    result = llmlabel("audit", "--help")
    assert result.returncode == 0 and "--calibration" in result.stdout


def test_the_planted_flips_are_flagged_and_nothing_else(tmp_path: Path) -> None:
    result = api.audit(PREDICTIONS, NOISY, tmp_path / "flagged.jsonl")
    flagged = rows(tmp_path / "flagged.jsonl")
    assert [f["id"] for f in flagged] == ["r09", "r16", "r33"]
    assert [f["rank"] for f in flagged] == [1, 2, 3]
    first = flagged[0]
    assert (first["given"], first["suggested"], first["margin"]) == ("negative", "positive", 1.0)
    assert first["votes"] == {"positive": 5}
    texts = {r["id"]: r for r in rows(SENTIMENT / "reviews.noisy.jsonl")}
    assert first["record"] == {k: v for k, v in texts["r09"].items() if k not in ("id", "label")}
    # r27 failed and r36 abstained: no distribution, never flagged
    assert result.audit.unscored == 2 and result.audit.records == 40
    assert not result.calibrated


def test_gold_of_ids_and_labels_gets_the_text_from_the_input(tmp_path: Path) -> None:
    """A gold file with only {id, label}: without --input the flagged rows have no text."""
    labels = [{"id": r["id"], "label": r["label"]} for r in rows(NOISY)]
    bare = write(tmp_path / "bare.jsonl", labels)
    api.audit(PREDICTIONS, bare, tmp_path / "plain.jsonl")
    assert rows(tmp_path / "plain.jsonl")[0]["record"] == {}
    joined = tmp_path / "joined.jsonl"
    data = SENTIMENT / "reviews.jsonl"
    result = llmlabel(
        "audit", str(PREDICTIONS), "--gold", str(bare), "-o", str(joined), "-i", str(data)
    )
    assert result.returncode == 0, result.stderr
    texts = {r["id"]: r["text"] for r in rows(SENTIMENT / "reviews.jsonl")}
    flagged = rows(joined)
    assert [f["id"] for f in flagged] == ["r09", "r16", "r33"]
    assert all(f["record"] == {"text": texts[f["id"]]} for f in flagged)


def test_the_clean_gold_has_no_confident_contradiction(tmp_path: Path) -> None:
    result = api.audit(PREDICTIONS, GOLD, tmp_path / "flagged.jsonl")
    assert result.audit.flags == [] and (tmp_path / "flagged.jsonl").read_text() == ""


def test_a_lower_fixed_threshold_flags_the_model_s_own_mistakes(tmp_path: Path) -> None:
    result = api.audit(PREDICTIONS, GOLD, tmp_path / "flagged.jsonl", threshold=0.6)
    # r11 (negative 3/5 against positive) and r20 (positive 4/5 against negative)
    assert [f.id for f in result.audit.flags] == ["r20", "r11"]


def test_a_calibration_rescales_the_leader(tmp_path: Path) -> None:
    calib = tmp_path / "calib.json"
    api.calibrate(PREDICTIONS, GOLD, calib, method="platt", target_accuracy=0.8)
    result = api.audit(PREDICTIONS, NOISY, tmp_path / "flagged.jsonl", calibration=calib)
    assert result.calibrated
    flags = result.audit.flags
    # Platt lifts 0.6 and 0.8 vote shares and lowers the thresholds, so the model's own
    # mistakes r20 and r11 now pass them too, ranked after the planted flips
    assert [f.id for f in flags] == ["r09", "r16", "r33", "r20", "r11"]
    assert all(f.p_suggested < 1.0 for f in flags)
    assert flags[0].margin > flags[3].margin > flags[4].margin


def test_the_cli_prints_the_thresholds_and_the_flags(tmp_path: Path) -> None:
    out = tmp_path / "flagged.jsonl"
    result = llmlabel("audit", str(PREDICTIONS), "--gold", str(NOISY), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "r09: negative → positive" in result.stdout
    assert "flagged 3 of 40 records" in result.stdout
    again = llmlabel("audit", str(PREDICTIONS), "--gold", str(NOISY), "-o", str(out))
    assert_one_line_error(again, "output exists", "--force")


def test_gold_without_predictions_is_an_error_unless_allowed(tmp_path: Path) -> None:
    gold = write(tmp_path / "gold.jsonl", [*rows(NOISY), {"id": "new", "label": "positive"}])
    with pytest.raises(InputError, match="1 of 41 gold records have no prediction"):
        api.audit(PREDICTIONS, gold, tmp_path / "a.jsonl")
    result = api.audit(PREDICTIONS, gold, tmp_path / "b.jsonl", allow_missing=True)
    assert "1 gold record(s) without a prediction were not audited" in result.notes


@pytest.mark.parametrize(
    ("gold", "needle"),
    [
        ([{"id": "r01"}], "has no string 'label'"),
        ([{"id": "r01", "label": "positive"}, {"id": "r01", "label": "negative"}], "twice"),
    ],
)
def test_bad_gold_names_the_record(tmp_path: Path, gold: list[dict[str, Any]], needle: str) -> None:
    path = write(tmp_path / "gold.jsonl", gold)
    with pytest.raises(InputError, match=needle) as caught:
        api.audit(PREDICTIONS, path, tmp_path / "out.jsonl")
    assert caught.value.where and "gold.jsonl" in caught.value.where


def test_a_pool_with_another_label_column(tmp_path: Path) -> None:
    pool = write(
        tmp_path / "pool.jsonl",
        [{"id": r["id"], "text": "…", "sentiment": r["label"]} for r in rows(NOISY)],
    )
    result = api.audit(PREDICTIONS, pool, tmp_path / "out.jsonl", label_field="sentiment")
    assert len(result.audit.flags) == 3
    assert rows(tmp_path / "out.jsonl")[0]["record"] == {"text": "…"}


def test_non_classification_predictions_are_refused(tmp_path: Path) -> None:
    ner = ROOT / "examples" / "ner"
    with pytest.raises(InputError, match="audit handles classification"):
        api.audit(ner / "predictions.sample.jsonl", ner / "news.gold.jsonl", tmp_path / "o.jsonl")


def test_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--threshold"):
        api.audit(PREDICTIONS, GOLD, tmp_path / "o.jsonl", threshold=1.5)
    (tmp_path / "o.jsonl").write_text("")
    with pytest.raises(OutputError, match="output exists"):
        api.audit(PREDICTIONS, GOLD, tmp_path / "o.jsonl")
    result = llmlabel(
        "audit", str(PREDICTIONS), "--gold", str(tmp_path / "missing.jsonl"), "-o", "x.jsonl"
    )
    assert_one_line_error(result, "missing.jsonl")
    assert result.returncode == 2


def test_rows_with_logprob_distributions_are_audited_on_them(tmp_path: Path) -> None:
    """One sample each (votes say 1.0 everywhere); the logprob distribution ranks the flips."""

    def row(i: str, label: str, p: float) -> dict[str, Any]:
        other = "negative" if label == "positive" else "positive"
        return {
            "id": i,
            "status": "labeled",
            "label": label,
            "confidence": p,
            "votes": {label: 1},
            "probs": {label: p, other: 1 - p},
            "confidence_method": "logprob",
        }

    predictions = write(
        tmp_path / "p.jsonl",
        [row("a", "positive", 0.99), row("b", "positive", 0.55), row("c", "negative", 0.98)]
        + [row(f"x{i}", "positive", 0.97) for i in range(5)],
    )
    gold = write(
        tmp_path / "g.jsonl",
        [{"id": "a", "label": "negative"}, {"id": "b", "label": "negative"}]
        + [{"id": "c", "label": "negative"}]
        + [{"id": f"x{i}", "label": "positive"} for i in range(5)],
    )
    result = api.audit(predictions, gold, tmp_path / "flagged.jsonl")
    # 'a' contradicts gold at 0.99; 'b' at 0.55 is below the positive class's mean self-confidence
    assert [f.id for f in result.audit.flags] == ["a"]
