"""Label probabilities from token logprobs on the real SmolLM2 model, through the in-process
backend and through the OpenAI-compatible HTTP backend (a llama.cpp server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import pytest

import llmlabel
from llmlabel.backends.embedded import EmbeddedBackend
from llmlabel.core import labelprobs
from llmlabel.core.settings import BackendSpec
from llmlabel.runs import distribution
from llmlabel.task import PreparedTask, load

# Labels sharing first tokens, so the walk needs branch points beyond the sampled path.
LABELS = ["card_arrival", "card_linking", "card_payment_fee", "balance", "lost_or_stolen_card"]
TEXTS = {
    "a": "When will my new card arrive? It has been two weeks.",
    "b": "How do I link my card to the app?",
    "c": "Someone took my wallet, my card is gone.",
}


def write_task(tmp_path: Path, backend: dict[str, Any], **extra: Any) -> Path:
    task = {
        "name": "bank-intents",
        "description": "The intent of a bank customer's message.",
        "labels": LABELS,
        "confidence": "logprob",
        "max_tokens": 24,
        "backend": {"n_ctx": 1024, "parallel": 2, "threads": 2, **backend},
        **extra,
    }
    path = tmp_path / "task.yaml"
    path.write_text(json.dumps(task))
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"id": k, "text": v}) + "\n" for k, v in TEXTS.items())
    )
    return path


def label(tmp_path: Path, backend: dict[str, Any], **extra: Any) -> dict[str, dict[str, Any]]:
    task = write_task(tmp_path, backend, **extra)
    out = tmp_path / "out.jsonl"
    llmlabel.label(task, tmp_path / "in.jsonl", out, cache=tmp_path / "c.db")
    return {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}


def check_distribution(row: dict[str, Any]) -> None:
    probs = row["probs"]
    assert row["status"] == "labeled" and row["confidence_method"] == "logprob"
    assert set(probs) == set(LABELS)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-5)
    assert row["label"] == max(LABELS, key=lambda k: (probs[k], -LABELS.index(k)))
    assert row["confidence"] == probs[row["label"]]
    assert row["provenance"]["confidence"] == "logprob"
    assert row["provenance"]["sampler"] == {"top_p": 1.0, "top_k": 0, "min_p": 0.0}


def test_embedded_rows_carry_a_distribution_over_the_label_set(
    tmp_path: Path, smollm2_path: Path
) -> None:
    rows = label(tmp_path, {"model": str(smollm2_path)})
    assert set(rows) == set(TEXTS)
    for row in rows.values():
        check_distribution(row)
    # The model is unsure between labels; the distribution says so (not 1.000 everywhere).
    assert any(row["confidence"] < 0.99 for row in rows.values())


def test_http_rows_carry_the_same_distribution(
    tmp_path: Path, smollm2_path: Path, embedded_server_url: str
) -> None:
    (tmp_path / "http").mkdir()
    rows = label(
        tmp_path / "http",
        {"type": "openai_compat", "model": "smollm2", "base_url": embedded_server_url},
    )
    for row in rows.values():
        check_distribution(row)


class Probes:
    """The model's alternatives after each answer prefix, one request per prefix."""

    def __init__(self, backend: EmbeddedBackend, task: PreparedTask, messages: Any) -> None:
        self.backend, self.task, self.messages = backend, task, messages
        self.asked: dict[str, dict[str, float]] = {}

    def __call__(self, node: str) -> dict[str, float]:
        if node not in self.asked:
            request = self.task.request(self.messages, 1, 0, node)
            tokens = asyncio.run(self.backend.complete(request)).samples[0].tokens
            assert tokens
            self.asked[node] = {**dict(tokens[0].top), tokens[0].text: tokens[0].logprob}
        return self.asked[node]


def brute_force(label: str, node: str, ends: dict[str, str], probes: Probes) -> float:
    """P(label): every token path that spells it, each token renormalised over the tokens
    that keep some label possible."""
    fits = {}
    for token, logprob in probes(node).items():
        nxt = node + token
        owners = [k for k, e in ends.items() if e.startswith(nxt) or nxt.startswith(e)]
        if owners and token:
            fits[nxt] = (math.exp(logprob), owners)
    total = sum(p for p, _ in fits.values())
    found = 0.0
    for nxt, (p, owners) in fits.items():
        if owners == [label]:
            found += p / total
        elif label in owners and p / total >= labelprobs.MIN_MASS:
            found += p / total * brute_force(label, nxt, ends, probes)
    return found


def test_the_trie_walk_matches_brute_force_per_label_scoring(
    tmp_path: Path, smollm2_path: Path
) -> None:
    """Each label scored on its own (``brute_force``) against the shared trie walk. Both read
    the same model answers (one request per node), so they must agree exactly; the run's rows,
    whose alternatives along the sampled answer came from another llama.cpp batch, closely."""
    rows = label(tmp_path, {"model": str(smollm2_path)})
    task = load(write_task(tmp_path, {"model": str(smollm2_path)}))
    spec = BackendSpec(model=str(smollm2_path), n_ctx=1024, parallel=2, threads=2)
    backend = EmbeddedBackend(spec, progress=False)
    prefix = '{"label": "'
    ends = {label: prefix + label + '"' for label in LABELS}
    try:
        for record_id, text in TEXTS.items():
            messages, _ = task.messages_for(record_id, {"id": record_id, "text": text})
            probes = Probes(backend, task, messages)
            brute = {label: brute_force(label, prefix, ends, probes) for label in LABELS}
            brute = {k: v / sum(brute.values()) for k, v in brute.items()}
            walk = labelprobs.walk(LABELS, prefix, prefix, {})
            while walk.missing:
                nodes = {node: probes(node) for node in probes.asked.keys() | set(walk.missing)}
                walk = labelprobs.walk(LABELS, prefix, prefix, nodes)
            assert walk.probs == pytest.approx(brute, abs=1e-9)
            assert rows[record_id]["probs"] == pytest.approx(brute, abs=0.05)
    finally:
        asyncio.run(backend.aclose())


def test_a_vote_task_keeps_vote_shares_as_its_distribution(
    tmp_path: Path, smollm2_path: Path
) -> None:
    rows = label(tmp_path, {"model": str(smollm2_path)}, confidence="vote", samples=3)
    for row in rows.values():
        shares = {k: row["votes"].get(k, 0) / 3 for k in LABELS}
        assert row["probs"] == pytest.approx(shares) and row["confidence_method"] == "vote"


def test_bias_correction_divides_out_the_content_free_prior(
    tmp_path: Path, smollm2_path: Path
) -> None:
    raw = label(tmp_path, {"model": str(smollm2_path)})
    task = write_task(tmp_path, {"model": str(smollm2_path)}, bias_correction="content_free")
    out = tmp_path / "debiased.jsonl"
    result = llmlabel.label(task, tmp_path / "in.jsonl", out, cache=tmp_path / "c.db")
    prior = result.stats.label_prior
    assert prior is not None and set(prior) == set(LABELS)
    assert json.loads(result.manifest.read_text())["totals"]["label_prior"] == prior
    for row in map(json.loads, out.read_text().splitlines()):
        expected = labelprobs.debias(raw[row["id"]]["probs"], prior)
        assert row["probs"] == pytest.approx(expected, abs=1e-4)
        assert row["provenance"]["bias_correction"] == "content_free"


def test_pool_bias_correction_divides_out_the_first_records_mean(
    tmp_path: Path, smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``bias_correction: pool``: the prior is the mean raw distribution of the first records
    (two here), asked again through the cache, and every row is divided by it."""
    monkeypatch.setattr(distribution, "POOL_RECORDS", 2)
    raw = label(tmp_path, {"model": str(smollm2_path)})
    task = write_task(tmp_path, {"model": str(smollm2_path)}, bias_correction="pool")
    out = tmp_path / "pooled.jsonl"
    result = llmlabel.label(task, tmp_path / "in.jsonl", out, cache=tmp_path / "c.db")
    first = [raw[k]["probs"] for k in list(TEXTS)[:2]]
    prior = result.stats.label_prior
    assert prior == pytest.approx(labelprobs.mean(first, LABELS), abs=1e-4)
    for row in map(json.loads, out.read_text().splitlines()):
        expected = labelprobs.debias(raw[row["id"]]["probs"], prior)
        assert row["probs"] == pytest.approx(expected, abs=1e-4)
        assert row["provenance"]["bias_correction"] == "pool"
