"""``shortlist:``: each record is asked among its labels most similar to its text.

Constructed cases with known answers use the TF-IDF embedder (deterministic); the runner's
orchestration (the narrowed prompt and schema, probabilities, the fallback) is driven by the
scripted backend, which seeds choices as servers do; one run on SmolLM2 labels for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel import api
from llmlabel.core.request import Completion, LabelRequest, TokenLogprob
from llmlabel.core.spec import TaskSpec, parse_task
from llmlabel.errors import ConfigError
from llmlabel.io.rowfile import read_rows
from llmlabel.select.shortlist import label_text
from llmlabel.task import VIEWS_KEPT, load
from tests.conftest import SMALL
from tests.fakes import FakeBackend, choice_seed, record_text

ROOT = Path(__file__).resolve().parent.parent
LABELS = {
    "billing": "invoices, charges and payments on the bill",
    "shipping": "parcel delivery, couriers and tracking numbers",
    "refund": "money back after a return",
    "account": "login, password and profile settings",
    "broken": "the product arrived damaged or stopped working",
    "sizing": "clothes that are too small or too large",
    "subscription": "cancel or renew a monthly subscription plan",
    "warranty": "repairs covered by the guarantee period",
    "privacy": "personal data, cookies and deleting my information",
    "discount": "coupon codes, vouchers and sale prices",
    "gift_card": "gift card balance and redeeming a card",
    "store_hours": "opening times of the shop",
}
RECORDS = {
    "billing": ["Why are there two charges on my bill?", "The invoice shows the wrong payments."],
    "shipping": ["My parcel tracking number shows nothing.", "Which courier does the delivery?"],
    "refund": ["I sent the return, where is my money?", "When do I get money back?"],
    "account": ["I forgot my password and cannot login.", "How do I change profile settings?"],
    "broken": ["The lamp arrived damaged.", "My kettle stopped working after a week."],
    "sizing": ["These shoes are too small.", "The jacket is far too large for me."],
    "subscription": ["Please cancel my subscription.", "How do I renew the monthly plan?"],
    "warranty": ["Is this repair covered by the guarantee?", "How long is the warranty period?"],
    "privacy": ["Delete my personal data please.", "What do you do with cookies?"],
    "discount": ["My coupon code is rejected.", "Can I use two vouchers in the sale?"],
    "gift_card": ["What is the balance of my gift card?", "I cannot redeem this card."],
    "store_hours": ["What are the opening times?", "Is the shop open on Sunday?"],
}


def task(**extra: Any) -> dict[str, Any]:
    """The fake backend gives no token logprobs: probabilities are the vote's shares."""
    shortlist = {"k": 3, "embedder": "tfidf", **extra.pop("shortlist", {})}
    return {"name": "support", "labels": LABELS, "confidence": "vote", "shortlist": shortlist,
            **extra}  # fmt: skip


def shortlisted(**extra: Any) -> TaskSpec:
    return parse_task(task(**extra))


def records() -> list[tuple[str, str, str]]:
    """(id, text, the label it is about)."""
    return [(f"{label}-{i}", text, label)
            for label, texts in RECORDS.items() for i, text in enumerate(texts)]  # fmt: skip


def write_input(tmp_path: Path, texts: dict[str, str]) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in texts.items()))
    return path


def enum(request: LabelRequest) -> list[str]:
    properties = request.json_schema["properties"]
    field = properties.get("label") or properties["labels"]["items"]
    return list(field["enum"])


def first_allowed(request: LabelRequest, i: int) -> str:
    return json.dumps({"label": enum(request)[0]})


def rows(path: Path) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in map(json.loads, path.read_text().splitlines())}


# Which labels a record is shown.


def test_records_about_a_label_have_it_in_their_shortlist() -> None:
    prepared = load(task())
    found = prepared.shortlists([(rid, {"text": text}) for rid, text, _ in records()])
    hits = [gold in shortlist for (_, _, gold), shortlist in zip(records(), found, strict=True)]
    assert sum(hits) / len(hits) == 1.0  # recall 1.0 on the constructed set
    assert all(len(shortlist) == 3 for shortlist in found)
    assert all(s == [x for x in prepared.labels if x in s] for s in found)  # task order


def test_a_label_is_embedded_as_name_and_description_its_name_in_words() -> None:
    assert label_text("gift_card", "balance") == "gift card: balance"
    assert label_text("store-hours", None) == "store hours"
    prepared = load(task(labels=list(LABELS), shortlist={"k": 1}))  # bare names match too
    assert prepared.shortlists([("a", {"text": "a gift card for you"})]) == [["gift_card"]]


def test_a_record_with_no_word_of_any_label_gets_the_first_labels() -> None:
    prepared = load(task())
    assert prepared.shortlists([("a", {"text": "zzz"})]) == [["billing", "shipping", "refund"]]


def test_the_labels_of_the_examples_shown_join_the_shortlist() -> None:
    items = [{"id": "e1", "text": "Where do I see my balance?", "label": "gift_card"},
             {"id": "e2", "text": "Open at nine?", "label": "store_hours"}]  # fmt: skip
    fixed = load(task(examples={"items": items, "k": 1}))
    [shortlist] = fixed.shortlists([("r", {"text": "Please cancel my subscription."})])
    assert "gift_card" in shortlist and "subscription" in shortlist and len(shortlist) == 4
    semantic = load(task(examples={"items": items, "k": 1, "strategy": "semantic",
                                   "embedder": "tfidf"}))  # fmt: skip
    [shortlist] = semantic.shortlists([("r", {"text": "Is the shop open at nine?"})])
    assert "store_hours" in shortlist  # the nearest pool example's label


# What the model is asked, and what the row says.


def test_the_prompt_schema_and_vote_hold_only_the_shortlist(tmp_path: Path) -> None:
    backend = FakeBackend(first_allowed)
    texts = {"a": "My parcel tracking number shows nothing.", "b": "Please cancel my plan."}
    out = tmp_path / "out.jsonl"
    api.label(shortlisted(), write_input(tmp_path, texts), out, backend=backend, cache=False)
    got = rows(out)
    for request in backend.requests:
        allowed = enum(request)
        assert len(allowed) == 3
        system = request.messages[0].content
        assert all(f"- {label}:" in system for label in allowed)
        assert not any(f"- {label}:" in system for label in set(LABELS) - set(allowed))
        row = got["a" if "parcel" in record_text(request) else "b"]
        assert row["shortlist"] == allowed and row["label"] == allowed[0]
    assert "shipping" in got["a"]["shortlist"] and "subscription" in got["b"]["shortlist"]
    assert list(got["a"])[list(got["a"]).index("examples") + 1] == "shortlist"
    assert "shortlist_fallback" not in got["a"]


def test_labels_outside_the_shortlist_have_probability_zero(tmp_path: Path) -> None:
    def split(request: LabelRequest, i: int) -> str:  # two of three choices agree
        return json.dumps({"label": enum(request)[int(choice_seed(request, i) == 2)]})

    out = tmp_path / "out.jsonl"
    texts = {"a": "My parcel tracking number shows nothing."}
    api.label(shortlisted(samples=3), write_input(tmp_path, texts), out, backend=FakeBackend(split),
              cache=False)  # fmt: skip
    row = rows(out)["a"]
    probs = row["probs"]
    assert list(probs) == list(LABELS)  # every label, in task order
    assert {k for k, p in probs.items() if p > 0} <= set(row["shortlist"])
    assert sum(probs.values()) == pytest.approx(1.0) and max(probs.values()) == pytest.approx(2 / 3)


class SpelledBackend(FakeBackend):
    """Each answer as one certain token per character: multi-label items get probabilities."""

    async def complete(self, request: LabelRequest) -> Completion:
        done = await super().complete(request)
        spelled = tuple(
            s.model_copy(
                update={"tokens": tuple(TokenLogprob(text=c, logprob=0.0) for c in s.text)}
            )
            for s in done.samples
        )
        return done.model_copy(update={"samples": spelled})


def test_multi_label_is_asked_among_its_shortlist(tmp_path: Path) -> None:
    def both(request: LabelRequest, i: int) -> str:
        return json.dumps({"labels": enum(request)[:2]})

    backend = SpelledBackend(both)
    out = tmp_path / "out.jsonl"
    texts = {"a": "The parcel arrived damaged, I want my money back."}
    spec = shortlisted(kind="multi_label", confidence="logprob")
    api.label(spec, write_input(tmp_path, texts), out, backend=backend, cache=False)
    row = rows(out)["a"]
    assert backend.requests[0].json_schema["properties"]["labels"]["maxItems"] == 3
    assert {"shipping", "broken", "refund"} == set(row["shortlist"])
    assert row["label"] == row["shortlist"][:2] and set(row["label_confidence"]) == {
        *row["shortlist"]
    }
    assert list(row["probs"]) == list(LABELS) and row["confidence_method"] == "logprob"
    assert {k for k, p in row["probs"].items() if p > 0} == set(row["label"])


def test_a_low_confidence_answer_is_labeled_again_among_every_label(tmp_path: Path) -> None:
    def unsure_when_narrow(request: LabelRequest, i: int) -> str:
        allowed = enum(request)
        if len(allowed) < len(LABELS):  # split 2:1 within the shortlist
            return json.dumps({"label": allowed[int(choice_seed(request, i) == 2)]})
        return json.dumps({"label": "refund"})

    texts = {"a": "My parcel tracking number shows nothing."}
    runs = {}
    for below in (0.7, 0.6, None):
        backend = FakeBackend(unsure_when_narrow)
        out = tmp_path / f"out-{below}.jsonl"
        shortlist = {} if below is None else {"fallback_below": below}
        spec = shortlisted(samples=3, shortlist=shortlist)
        result = api.label(spec, write_input(tmp_path, texts), out, backend=backend, cache=False)
        runs[below] = rows(out)["a"], backend, result
    row, backend, result = runs[0.7]  # 2/3 < 0.7: asked again among all 12
    assert row["shortlist_fallback"] is True and row["label"] == "refund"
    assert row["confidence"] == 1.0 and len(row["shortlist"]) == 3
    assert [len(enum(r)) for r in backend.requests] == [3, 12]
    assert row["usage"] == {"prompt_tokens": 20, "completion_tokens": 30}  # both answers
    assert result.stats.shortlist_fallbacks == 1
    assert json.loads(result.manifest.read_text())["totals"]["shortlist_fallbacks"] == 1
    for below in (0.6, None):  # 2/3 is enough, or no fallback asked for
        row, backend, _ = runs[below]
        assert "shortlist_fallback" not in row and len(backend.requests) == 1
        assert row["confidence"] == pytest.approx(2 / 3)


def test_provenance_records_the_settings_and_the_cache_key_changes(tmp_path: Path) -> None:
    texts = {"a": "My parcel tracking number shows nothing."}
    cache = tmp_path / "cache.db"
    first = FakeBackend(first_allowed)
    api.label(shortlisted(), write_input(tmp_path, texts), tmp_path / "1.jsonl", backend=first,
              cache=cache)  # fmt: skip
    whole = FakeBackend(first_allowed)
    unlisted = parse_task({**task(), "shortlist": False})
    api.label(unlisted, write_input(tmp_path, texts), tmp_path / "2.jsonl", backend=whole,
              cache=cache)  # fmt: skip
    assert len(whole.requests) == 1  # not answered from the shortlist's cached request
    provenance = rows(tmp_path / "1.jsonl")["a"]["provenance"]["shortlist"]
    assert provenance["k"] == 3 and provenance["fallback_below"] is None
    assert (
        provenance["embedder"].startswith("tfidf: ")
        and "fitted on the labels" in (provenance["embedder"])
    )
    assert "shortlist" not in rows(tmp_path / "2.jsonl")["a"]


def test_rows_with_a_shortlist_are_read_by_the_commands(tmp_path: Path) -> None:
    texts = {rid: text for rid, text, _ in records()}
    out = tmp_path / "out.jsonl"
    api.label(shortlisted(samples=2), write_input(tmp_path, texts), out,
              backend=FakeBackend(first_allowed), cache=False)  # fmt: skip
    assert all(row.shortlist for _, row in read_rows(out))
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"id": rid, "text": text, "label": label}) + "\n"
                            for rid, text, label in records()))  # fmt: skip
    result = llmlabel.evaluate(out, gold)
    assert result.summary.records == len(records())
    audited = api.audit(out, gold, tmp_path / "flags.jsonl")
    assert audited is not None


def test_overrides_turn_it_on_and_off() -> None:
    base = {"name": "t", "labels": LABELS}
    on = load(base, overrides={"shortlist.k": 5, "shortlist.embedder": "tfidf"})
    assert on.shortlister is not None and on.shortlister.k == 5
    assert load({**base, "shortlist": {"k": 2}}, overrides={"shortlist": False}).shortlister is None
    assert load(base).shortlists([("a", {"text": "x"})]) == [list(LABELS)]
    written_off = load({**base, "shortlist": None}, overrides={"shortlist.k": 2})
    assert written_off.spec.shortlist is not None and written_off.spec.shortlist.k == 2


def test_views_are_cached_per_subset_and_bounded() -> None:
    prepared = load(task())
    view = prepared.narrowed(["refund", "billing"])
    assert view.labels == ["billing", "refund"] and prepared.narrowed(["billing", "refund"]) is view
    assert prepared.narrowed(list(LABELS)) is prepared and view.shortlister is None
    assert view.renderer.hash == prepared.renderer.hash and view.spec is prepared.spec
    names = list(LABELS)
    for i in range(VIEWS_KEPT + 5):
        prepared.narrowed([names[i % 12], names[(i // 12) % 12], names[(i // 144) % 12]])
    assert len(prepared._views) <= VIEWS_KEPT


def test_an_ner_task_is_narrowed_to_its_entity_types() -> None:
    prepared = load({"name": "ents", "kind": "ner", "labels": ["PER", "ORG", "LOC", "MISC"],
                     "shortlist": {"k": 2, "embedder": "tfidf"}})  # fmt: skip
    view = prepared.narrowed(["LOC", "PER"])
    schema = json.dumps(view.schema)
    assert '"PER"' in schema and '"LOC"' in schema and '"ORG"' not in schema
    assert "ORG" not in view.renderer.system and "LOC" in view.renderer.system


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "free_text", "labels": []}, "free_text tasks do not have: remove `shortlist:`"),
        ({"shortlist": {"k": 0}}, "'shortlist.k': Input should be greater than or equal to 1"),
        ({"shortlist": {"fallback_below": 0}}, "'shortlist.fallback_below'"),
        ({"shortlist": {"fallback_below": 1.5}}, "'shortlist.fallback_below'"),
        ({"shortlist": {"embedder": "bert"}}, "'shortlist.embedder'"),
        ({"shortlist": {"kk": 3}}, "unknown key 'shortlist.kk'"),
        ({"schema": "s.py:S"}, "not a `schema:` model"),
        ({"committee": [{"name": "a"}, {"name": "b"}]}, "shortlist runs one model"),
    ],
)
def test_bad_settings_are_one_line_errors(change: dict[str, Any], message: str) -> None:
    data = {"name": "t", "labels": ["a", "b"], "shortlist": {"k": 1}, **change}
    with pytest.raises(ConfigError) as info:
        parse_task(data, source="task.yaml")
    text = str(info.value)
    assert message in text and text.startswith("task.yaml: ") and "\n" not in text
    if "kk" in change.get("shortlist", {}):
        assert info.value.hint == "did you mean 'k'?"


def test_a_shortlist_on_smollm2(tmp_path: Path, smollm2_path: Path) -> None:
    """The real model through the embedded backend, with token probabilities and the
    content-free prior restricted to each shortlist."""
    texts = {rid: text for rid, text, _ in records()[::4]}
    out = tmp_path / "out.jsonl"
    spec = {**task(), "confidence": "logprob", "bias_correction": "content_free",
            "shortlist": {"k": 3, "embedder": "tfidf", "fallback_below": 0.5}}  # fmt: skip
    result = llmlabel.label(parse_task(spec), write_input(tmp_path, texts), out, overrides=SMALL,
                            cache=tmp_path / "c.db")  # fmt: skip
    got = rows(out)
    assert result.stats.labeled == len(texts) == len(got)
    for row in got.values():
        assert row["confidence_method"] == "logprob" and list(row["probs"]) == list(LABELS)
        assert sum(row["probs"].values()) == pytest.approx(1.0, abs=1e-4)
        if row.get("shortlist_fallback"):
            assert row["label"] in LABELS
        else:
            assert row["label"] in row["shortlist"] and len(row["shortlist"]) == 3
            assert all(p == 0 for k, p in row["probs"].items() if k not in row["shortlist"])
    assert set(result.stats.label_prior or {}) == set(LABELS)  # asked once, on every label


def test_the_recall_script_runs(tmp_path: Path) -> None:
    """eval/shortlist_recall.py on a tiny gold file (no model is asked)."""
    suite = tmp_path / "gold" / "trec"
    suite.mkdir(parents=True)
    rows = [("Where is Paris ?", "location"), ("Who wrote Hamlet ?", "human"),
            ("How many legs has a spider ?", "numeric")]  # fmt: skip
    lines = [json.dumps({"id": f"t{i}", "text": t, "label": g}) for i, (t, g) in enumerate(rows)]
    (suite / "test.jsonl").write_text("".join(line + "\n" for line in lines))
    report = tmp_path / "recall.md"
    args = ["--suites", "trec", "--limit", "3", "--ks", "1,6", "--embedders", "tfidf"]
    result = subprocess.run(
        [sys.executable, str(ROOT / "eval" / "shortlist_recall.py"), *args, "--out", str(report)],
        env={**os.environ, "LLMLABEL_GOLD_DIR": str(tmp_path / "gold")},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    text = report.read_text()
    assert "| trec | 6 | tfidf | 6 (all) | 1.000 (3/3) | 1.000 | 1.000 | — |" in text
    assert "Command: `python eval/shortlist_recall.py --suites trec" in text
