"""Free-text answers: similarity, the medoid vote, and the chrF and ROUGE-L metrics. Pure.

chrF (Popović 2015) is computed as sacreBLEU's default ``CHRF()`` on one sentence: character
n-grams of orders 1..6 with whitespace removed, case kept; per order precision and recall,
averaged over the orders both texts have n-grams of, then F-beta with beta = 2 (recall weighs
more). Scores are in [0, 1] (sacreBLEU reports them times 100).

ROUGE-L is rouge-score's ``rouge_scorer.RougeScorer(["rougeL"])`` F-measure: the longest common
subsequence of lower-cased alphanumeric tokens, F1 of LCS/len(candidate) and LCS/len(reference).
Tokens here are Unicode letters and digits, so text in any script counts (rouge-score keeps only
ASCII ``a-z0-9``); on ASCII text the two agree.

The vote (``medoid``) generalises plurality to text: similarity is the chrF F1 of two texts
(beta = 1, so it is symmetric) and the winner is the sample most similar to all the samples; its
confidence is the mean similarity of every sample to it, an invalid sample counting 0. With
0/1 similarity this is exactly plurality's vote share: unanimous samples give confidence 1.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from llmlabel.core.metrics import Outcome
from llmlabel.core.scoring import Metric, Scoring, Unscorable
from llmlabel.core.vote import Vote, abstain

CHAR_ORDER = 6
_TOKEN = re.compile(r"[^\W_]+")
_PRECISION = 12
"""Decimals kept when comparing medoid scores, so float summation order cannot break a tie."""


def chrf(hypothesis: str, reference: str, beta: float = 2.0, order: int = CHAR_ORDER) -> float:
    """chrF of ``hypothesis`` against ``reference`` in [0, 1] (sacreBLEU's sentence chrF / 100)."""
    hyp, ref = _squeeze(hypothesis), _squeeze(reference)
    precisions, recalls = [], []
    for n in range(1, order + 1):
        hyp_grams, ref_grams = _ngrams(hyp, n), _ngrams(ref, n)
        if not hyp_grams or not ref_grams:
            continue
        match = sum((hyp_grams & ref_grams).values())
        precisions.append(match / sum(hyp_grams.values()))
        recalls.append(match / sum(ref_grams.values()))
    if not precisions:
        return 0.0
    precision = sum(precisions) / len(precisions)
    recall = sum(recalls) / len(recalls)
    return _f_beta(precision, recall, beta)


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F-measure of ``candidate`` against ``reference`` in [0, 1]."""
    cand, ref = tokens(candidate), tokens(reference)
    if not cand or not ref:
        return 0.0
    common = lcs_length(cand, ref)
    return _f_beta(common / len(cand), common / len(ref), 1.0)


def tokens(text: str) -> list[str]:
    """Lower-cased runs of letters and digits."""
    return _TOKEN.findall(text.lower())


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, one row at a time)."""
    previous = [0] * (len(b) + 1)
    for item in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if item == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def similarity(a: str, b: str) -> float:
    """Symmetric similarity in [0, 1]: 1 for equal texts, else chrF with beta = 1."""
    if a == b:
        return 1.0
    return chrf(a, b, beta=1.0)


def medoid(
    values: Sequence[str | None], order: Sequence[str] = (), reasons: Sequence[str] = ()
) -> Vote:
    """Vote over free-text samples (``None`` = invalid sample); ``order`` is unused (no labels).

    The winner maximises the summed similarity to every valid sample (itself included); equal
    scores go to the alphabetically first text and set ``tie``, so sample order never matters.
    ``counts`` holds every distinct sample text with how many samples gave it.
    """
    total = len(values)
    counter = Counter(v for v in values if v is not None)
    if not counter:
        return abstain(total, reasons)
    scores = {
        text: round(sum(n * similarity(text, other) for other, n in counter.items()), _PRECISION)
        for text in counter
    }
    best = max(scores.values())
    leaders = sorted(text for text, score in scores.items() if score == best)
    counts = dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))
    return Vote(
        label=leaders[0],
        confidence=min(1.0, best / total),
        counts=counts,
        total=total,
        tie=len(leaders) > 1,
    )


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _ngrams(text: str, n: int) -> Counter[str]:
    return Counter(text[i : i + n] for i in range(len(text) - n + 1))


def _f_beta(precision: float, recall: float, beta: float) -> float:
    factor = beta**2
    denominator = factor * precision + recall
    return (1 + factor) * precision * recall / denominator if denominator else 0.0


# ---- scoring against gold ------------------------------------------------------------------


def same_text(a: str, b: str) -> bool:
    """Exact match up to case and whitespace: what ``llmlabel eval`` counts as correct."""
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def mean_chrf(outcomes: Sequence[Outcome]) -> float:
    """Mean sentence chrF of the predictions against the references (no prediction: 0)."""
    return _mean(outcomes, chrf)


def mean_rouge_l(outcomes: Sequence[Outcome]) -> float:
    """Mean ROUGE-L F-measure of the predictions against the references (no prediction: 0)."""
    return _mean(outcomes, rouge_l)


def _mean(outcomes: Sequence[Outcome], metric: Callable[[str, str], float]) -> float:
    if not outcomes:
        return 0.0
    scores = [metric(o.predicted, o.gold) if o.predicted is not None else 0.0 for o in outcomes]
    return sum(scores) / len(scores)


def _text(value: Any, problem: str, hint: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Unscorable(problem, hint)
    return value


SCORING = Scoring(
    gold=lambda row: _text(
        row.get("reference"),
        "has no `reference` text",
        'gold rows look like {"id": ..., "reference": "..."}',
    ),
    predicted=lambda label: _text(
        label, "has no text", "free-text predictions have a string `label` per row"
    ),
    metrics=(
        Metric("chrf", "chrF", mean_chrf),
        Metric("rouge_l", "ROUGE-L", mean_rouge_l),
    ),
    gold_format='{"id": ..., "reference": "..."}',
    per_class=lambda outcomes: [],
    per_class_title="Per class (none for free text)",
    correct=same_text,
)
