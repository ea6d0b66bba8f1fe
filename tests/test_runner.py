"""The runner's orchestration, driven by a scripted backend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmlabel import api
from llmlabel.core.request import LabelRequest
from llmlabel.core.spec import parse_task
from llmlabel.errors import BackendError, ConfigError, InputError, OutputError
from tests.fakes import FakeBackend, is_reask, record_text

TEXTS = {"1": "great", "2": "awful", "3": "fine I guess", "4": "great again"}


def task(**extra: Any):  # type: ignore[no-untyped-def]
    """The fake backend gives no token logprobs: these tests vote."""
    return parse_task(
        {"name": "t", "labels": ["positive", "negative"], "confidence": "vote", **extra}
    )


def write_input(tmp_path: Path, texts: dict[str, str] = TEXTS) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()))
    return path


def by_word(request: LabelRequest, i: int) -> str:
    text = record_text(request)
    return '{"label": "%s"}' % ("negative" if "awful" in text else "positive")


def rows(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


def test_every_record_gets_one_voted_row_with_provenance(tmp_path: Path) -> None:
    backend = FakeBackend(by_word)
    out = tmp_path / "out.jsonl"
    result = api.label(task(samples=3), write_input(tmp_path), out, backend=backend, cache=False)
    got = rows(out)
    assert set(got) == set(TEXTS)
    assert got["2"]["label"] == "negative" and got["1"]["label"] == "positive"
    assert got["1"]["confidence"] == 1.0 and got["1"]["votes"] == {"positive": 3}
    assert got["1"]["provenance"]["template"] == "classify.v1"
    assert len(got["1"]["provenance"]["template_hash"]) == 16
    assert result.stats.labeled == 4 and result.stats.requests == 4
    manifest = json.loads(result.manifest.read_text())
    assert manifest["status"] == "completed" and manifest["totals"]["labeled"] == 4


def test_samples_above_max_n_are_split_into_rounds_with_distinct_seeds(tmp_path: Path) -> None:
    backend = FakeBackend(by_word, max_n=2)
    out = tmp_path / "out.jsonl"
    api.label(
        task(samples=5), write_input(tmp_path, {"1": "great"}), out, backend=backend, cache=False
    )
    assert sorted(r.n for r in backend.requests) == [1, 2, 2]
    assert len({r.seed for r in backend.requests}) == 3
    assert rows(out)["1"]["votes"] == {"positive": 5}


def test_invalid_answers_are_reasked_with_the_error(tmp_path: Path) -> None:
    def script(request: LabelRequest, i: int) -> str:
        return '{"label": "positive"}' if is_reask(request) else '{"label": "meh"}'

    backend = FakeBackend(script)
    out = tmp_path / "out.jsonl"
    result = api.label(task(), write_input(tmp_path, {"1": "x"}), out, backend=backend, cache=False)
    reask = backend.requests[-1]
    assert reask.messages[-2].content == '{"label": "meh"}'
    assert "invalid" in reask.messages[-1].content and "label" in reask.messages[-1].content
    assert rows(out)["1"]["label"] == "positive"
    assert result.stats.reasks == 1


def test_still_invalid_after_reasks_is_an_abstention_with_reason(tmp_path: Path) -> None:
    backend = FakeBackend(lambda r, i: "no json here")
    out = tmp_path / "out.jsonl"
    result = api.label(
        task(retries={"reask": 2}),
        write_input(tmp_path, {"1": "x"}),
        out,
        backend=backend,
        cache=False,
    )
    row = rows(out)["1"]
    assert row["status"] == "abstained" and row["label"] is None and row["confidence"] == 0.0
    assert "no valid answer" in row["reason"] and "not valid JSON" in row["reason"]
    assert len(backend.requests) == 3 and result.stats.abstained == 1


def test_a_failed_request_becomes_a_failed_row_and_the_run_goes_on(tmp_path: Path) -> None:
    def script(request: LabelRequest, i: int) -> str:
        if "awful" in record_text(request):
            raise BackendError("prompt longer than the context (5000 > 4096 tokens)")
        return '{"label": "positive"}'

    out = tmp_path / "out.jsonl"
    result = api.label(task(), write_input(tmp_path), out, backend=FakeBackend(script), cache=False)
    got = rows(out)
    assert got["2"]["status"] == "failed" and "context" in got["2"]["error"]
    assert result.stats.failed == 1 and result.stats.labeled == 3


def test_a_fatal_error_stops_the_run_and_keeps_written_rows(tmp_path: Path) -> None:
    def script(request: LabelRequest, i: int) -> str:
        if "awful" in record_text(request):
            raise BackendError("cannot reach http://127.0.0.1:9/v1", fatal=True)
        return '{"label": "positive"}'

    out = tmp_path / "out.jsonl"
    with pytest.raises(BackendError, match="cannot reach"):
        api.label(
            task(concurrency=1),
            write_input(tmp_path),
            out,
            backend=FakeBackend(script),
            cache=False,
        )
    assert set(rows(out)) == {"1"}
    assert json.loads(api.manifest_path_for(out).read_text())["status"] == "stopped"


def test_the_cache_makes_a_rerun_free(tmp_path: Path) -> None:
    inp, out, cache = write_input(tmp_path), tmp_path / "out.jsonl", tmp_path / "c.sqlite"
    first = FakeBackend(by_word)
    api.label(task(samples=3), inp, out, backend=first, cache=cache)
    again = FakeBackend(by_word)
    result = api.label(task(samples=3), inp, out, backend=again, cache=cache, overwrite=True)
    assert len(first.requests) == 4 and again.requests == []
    assert result.stats.cache_hits == 4 and result.stats.labeled == 4


def test_resume_labels_only_what_is_missing(tmp_path: Path) -> None:
    inp, out = write_input(tmp_path), tmp_path / "out.jsonl"
    api.label(task(), inp, out, backend=FakeBackend(by_word), cache=False, limit=2)
    backend = FakeBackend(by_word)
    result = api.label(task(), inp, out, backend=backend, cache=False, resume=True)
    assert result.stats.skipped == 2 and len(backend.requests) == 2
    ids = [json.loads(line)["id"] for line in out.read_text().splitlines()]
    assert sorted(ids) == sorted(TEXTS)


def test_existing_output_needs_resume_or_overwrite(tmp_path: Path) -> None:
    inp, out = write_input(tmp_path), tmp_path / "out.jsonl"
    out.write_text('{"id": "old"}\n')
    with pytest.raises(OutputError):
        api.label(task(), inp, out, backend=FakeBackend(by_word), cache=False)


def test_duplicate_ids_and_empty_text_are_input_errors(tmp_path: Path) -> None:
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"id": "1", "text": "a"}\n{"id": "1", "text": "b"}\n')
    with pytest.raises(InputError, match="duplicate id '1'"):
        api.label(task(), dup, tmp_path / "o1.jsonl", backend=FakeBackend(by_word), cache=False)
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": "1", "text": "a"}\n{"id": "2", "text": "   "}\n')
    with pytest.raises(InputError, match="2"):
        api.label(task(), empty, tmp_path / "o2.jsonl", backend=FakeBackend(by_word), cache=False)


def test_label_records_returns_rows_in_input_order() -> None:
    records = [{"id": k, "text": v} for k, v in TEXTS.items()]
    got = api.label_records(task(), records, backend=FakeBackend(by_word), cache=False)
    assert [r["id"] for r in got] == list(TEXTS)
    assert [r["label"] for r in got] == ["positive", "negative", "positive", "positive"]


def test_plan_counts_without_calling_a_model(tmp_path: Path) -> None:
    plan = api.plan(task(samples=5, backend={"max_n": 2}), write_input(tmp_path))
    assert plan.records == 4 and plan.requests == 12
    assert plan.prompt_tokens > plan.prompt_tokens_uncached > 0


def test_multi_label_rows_carry_the_voted_set_and_per_label_confidence(tmp_path: Path) -> None:
    answers = ['{"labels": ["billing", "refund"]}', '{"labels": ["billing"]}', '{"labels": []}']

    def script(request: LabelRequest, i: int) -> str:
        return answers[i]

    spec = parse_task(
        {"name": "t", "kind": "multi_label", "labels": ["billing", "refund"], "samples": 3}
    )
    out = tmp_path / "out.jsonl"
    source = write_input(tmp_path, {"1": "x"})
    result = api.label(spec, source, out, backend=FakeBackend(script), cache=False)
    row = rows(out)["1"]
    assert row["label"] == ["billing"] and row["votes"] == {"billing": 2, "refund": 1}
    assert row["label_confidence"] == {"billing": round(2 / 3, 6), "refund": round(2 / 3, 6)}
    assert row["provenance"]["template"] == "multilabel.v1"
    assert result.stats.labels == {"billing": 1}


def split_votes(request: LabelRequest, i: int) -> str:
    """Record "great" is unanimous; "fine I guess" alternates by sample (seed + index)."""
    text = record_text(request)
    if "fine" in text:
        return '{"label": "%s"}' % ("positive" if (request.seed or 0) % 2 else "negative")
    return '{"label": "positive"}'


def test_adaptive_sampling_stops_settled_records_and_spends_the_budget_on_hard_ones(
    tmp_path: Path,
) -> None:
    backend = FakeBackend(split_votes, max_n=1)
    out = tmp_path / "out.jsonl"
    spec = task(samples={"max": 9, "adaptive": True, "min": 3, "batch": 2, "level": 0.9})
    texts = {"easy": "great", "hard": "fine I guess"}
    result = api.label(spec, write_input(tmp_path, texts), out, backend=backend, cache=False)
    got = rows(out)
    assert got["easy"]["samples_used"] == 3 and got["easy"]["votes"] == {"positive": 3}
    # stopped at 3 of 3 out of 9: 3 votes + 6 expected at 0.8 (core/adaptive.projected_share)
    assert got["easy"]["confidence"] == pytest.approx((3 + 6 * 0.8) / 9, abs=1e-6)
    assert got["hard"]["confidence"] == pytest.approx(max(got["hard"]["votes"].values()) / 9)
    assert got["hard"]["samples_used"] == 9 and sum(got["hard"]["votes"].values()) == 9
    assert result.stats.requests == 12
    assert len({(r.seed, record_text(r)) for r in backend.requests}) == 12


def test_adaptive_requests_are_a_prefix_of_the_fixed_run_so_the_cache_serves_them(
    tmp_path: Path,
) -> None:
    inp, cache = write_input(tmp_path), tmp_path / "c.sqlite"
    fixed = FakeBackend(by_word, max_n=1)
    api.label(task(samples=6), inp, tmp_path / "fixed.jsonl", backend=fixed, cache=cache)
    adaptive = FakeBackend(by_word, max_n=1)
    spec = task(samples={"max": 6, "adaptive": True})
    result = api.label(spec, inp, tmp_path / "adaptive.jsonl", backend=adaptive, cache=cache)
    assert adaptive.requests == [] and result.stats.cache_hits == 3 * len(TEXTS)
    assert {r["samples_used"] for r in rows(tmp_path / "adaptive.jsonl").values()} == {3}


def test_adaptive_is_refused_for_kinds_without_a_stopping_rule() -> None:
    with pytest.raises(ConfigError, match="adaptive"):
        parse_task({"name": "t", "kind": "free_text", "samples": {"max": 5, "adaptive": True}})


def test_a_constant_confidence_and_collapsed_labels_are_warned_about(tmp_path: Path) -> None:
    texts = {str(i): f"text {i}" for i in range(12)}
    backend = FakeBackend(lambda r, i: '{"label": "positive"}')
    out = tmp_path / "out.jsonl"
    result = api.label(task(), write_input(tmp_path, texts), out, backend=backend, cache=False)
    constant, collapsed = result.stats.warnings()
    assert "every labeled row has confidence 1.000" in constant
    assert "12 of 12 labeled rows are 'positive'" in collapsed
    mixed = FakeBackend(by_word)
    result = api.label(
        task(samples=3), write_input(tmp_path), out, backend=mixed, cache=False, overwrite=True
    )
    assert result.stats.warnings() == []
