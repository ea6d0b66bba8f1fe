"""Human review, the pure part: which records people look at, and how far they agree with the model.

Uncertainty (higher = review first), from a prediction row's votes. An invalid sample is an
outcome of its own ("the model could not answer"), so invalid answers raise uncertainty:

- ``least_confidence``: 1 − the row's confidence (NER: the record's confidence is its weakest
  span decision, kept or rejected, so this is 1 − the least confident span decision).
- ``margin``: 1 − (share of the winner − share of the runner-up); multi-label: the smallest
  yes/no margin over the labels; NER: the same over every candidate span any sample found (a
  record where no sample found a span has the one decision "no entities").
- ``entropy``: vote entropy in nats, −Σ p·ln p over the sample shares; multi-label and NER: the
  sum of the labels' (candidate spans') yes/no/invalid entropies.
- ``committee``: mean KL divergence of each committee member's vote distribution from the
  consensus (their average). Rows of a committee run carry per-member votes (the row's
  ``committee`` object) and are scored with ``llmlabel.core.committee.disagreement``, the
  value the run recorded as ``committee.disagreement`` (multi-label and NER committee rows:
  that recorded value, as their members vote label by label); otherwise every sample is a
  member with a one-hot vote, and the mean KL from consensus is then exactly the vote entropy.
- ``random``: a seeded hash of the id, so the choice does not depend on the order of the rows;
  the baseline that gives unbiased agreement estimates.

Rows that carry a label distribution (``probs``: token logprobs, or logprobs averaged with the
vote, ``confidence: logprob | combined``) are scored on it instead of the vote shares: margin is
1 − (p of the winner − p of the runner-up), entropy −Σ p·ln p over the labels.

Rows with no valid vote (abstained, failed) are maximally uncertain under every strategy.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from llmlabel.core.committee import INVALID as INVALID
from llmlabel.core.committee import Member, disagreement
from llmlabel.core.committee import entropy as entropy
from llmlabel.core.committee import kl_divergence as kl_divergence
from llmlabel.core.labelsets import SetCounts
from llmlabel.core.metrics import Outcome
from llmlabel.core.silverspans import Entities, misplaced, overlapping
from llmlabel.core.spans import Span

Strategy = Literal["least_confidence", "margin", "entropy", "committee", "random"]
STRATEGIES: tuple[Strategy, ...] = ("least_confidence", "margin", "entropy", "committee", "random")

Label = str | tuple[str, ...] | Entities
"""A classification label, a multi-label answer as a tuple in the task's label order, or an
NER answer (its entities in text order)."""


@dataclass(frozen=True)
class Candidate:
    """What review needs from one prediction row.

    ``votes``: valid samples per label (multi-label: valid samples naming each label; NER:
    valid samples finding each candidate span); ``valid`` / ``invalid``: samples with and
    without a valid answer (a committee's: all its members'); ``committee``: per-member votes
    when the row carries them (a classification committee run); ``spans``: an NER row, scored
    span decision by span decision."""

    id: str
    label: Label | None
    confidence: float
    votes: Mapping[str, int]
    valid: int
    invalid: int = 0
    multi_label: bool = False
    committee: Sequence[Member] | None = None
    spans: bool = False
    disagreement: float | None = None
    """The disagreement a multi-label or NER committee run recorded (its members vote item by
    item, which the row's per-member counts do not say in full)."""
    probs: Mapping[str, float] | None = None
    """The row's label distribution, when it came from token logprobs (``confidence_method``
    logprob or combined); vote shares otherwise, so this stays ``None``."""


@dataclass(frozen=True)
class Question:
    """What reviewers answer: the kind's answer field, its labels, the record fields shown;
    ``spans``: reviewers mark entities (the labels are entity types) in the ``text`` field."""

    name: str
    labels: Sequence[str]
    fields: Sequence[str]
    multi_label: bool
    title: str = ""
    descriptions: Mapping[str, str | None] | None = None
    spans: bool = False


@dataclass(frozen=True)
class Correction:
    """A reviewer's label for one record, and the record's fields as the reviewer saw them."""

    id: str
    label: Label
    annotator: str
    data: Mapping[str, Any]
    where: str


def normalise(counts: Mapping[str, int | float]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items() if v} if total else {}


def consensus_kl(members: Sequence[Mapping[str, float]]) -> float:
    """Mean KL divergence of each member's distribution from the members' average."""
    if not members:
        return 0.0
    keys = {k for m in members for k in m}
    mean = {k: sum(m.get(k, 0.0) for m in members) / len(members) for k in keys}
    return sum(kl_divergence(m, mean) for m in members) / len(members)


def uncertainty(c: Candidate, strategy: Strategy, *, seed: int = 0) -> float:
    """How much ``c`` needs a person (see the module docstring)."""
    if strategy == "random":
        digest = hashlib.sha256(f"{seed}\0{c.id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64
    if strategy == "least_confidence":
        return 1.0 - c.confidence
    if c.label is None or c.valid == 0:
        return 1.0 if strategy == "margin" else math.inf
    if strategy == "committee" and c.disagreement is not None:
        return c.disagreement
    if c.multi_label or c.spans:
        return _decisions(c, strategy)
    if c.probs and strategy in ("margin", "entropy"):
        ranked = [*sorted(c.probs.values(), reverse=True), 0.0, 0.0]
        if strategy == "margin":
            return 1.0 - (ranked[0] - ranked[1])
        return entropy(p for p in c.probs.values() if p > 0)
    outcomes = {**c.votes, INVALID: c.invalid}
    if strategy == "margin":
        total = c.valid + c.invalid
        ranked = [*sorted(c.votes.values(), reverse=True), 0, 0]
        return 1.0 - (ranked[0] - ranked[1]) / total
    if strategy == "entropy":
        return entropy(normalise(outcomes).values())
    if c.committee:
        return disagreement(c.committee).disagreement
    return consensus_kl([{k: 1.0} for k, n in outcomes.items() for _ in range(n)])


def _decisions(c: Candidate, strategy: Strategy) -> float:
    """Per label (NER: per candidate span), each sample votes yes, no or invalid; see the
    module docstring."""
    total = c.valid + c.invalid
    outcomes = [(yes, c.valid - yes, c.invalid) for yes in c.votes.values()]
    if not outcomes:  # NER, no sample found a span: the one decision "no entities"
        outcomes = [(c.valid, 0, c.invalid)]
    if strategy == "margin":
        return 1.0 - min((abs(yes - no) / total for yes, no, _ in outcomes), default=1.0)
    # entropy, and committee with samples as members (their mean KL is the same entropy)
    return sum(entropy(n / total for n in outcome) for outcome in outcomes)


@dataclass(frozen=True)
class Chosen:
    id: str
    score: float


@dataclass(frozen=True)
class Choice:
    """The records chosen for review, best first, and what the choice left out."""

    chosen: list[Chosen]
    candidates: int
    near_duplicates: int = 0
    notes: list[str] = field(default_factory=list)


def choose(
    candidates: Sequence[Candidate],
    strategy: Strategy,
    budget: int,
    *,
    seed: int = 0,
    texts: Mapping[str, str] | None = None,
    max_similarity: float | None = None,
) -> Choice:
    """The ``budget`` most uncertain candidates (ties: file order). With ``texts`` and
    ``max_similarity``, a candidate whose text is more similar than that (word-bigram Jaccard)
    to one already chosen is skipped, so people do not review near-duplicates."""
    scored = [(uncertainty(c, strategy, seed=seed), i, c) for i, c in enumerate(candidates)]
    scored.sort(key=lambda t: (-t[0], t[1]))
    chosen: list[Chosen] = []
    kept: list[frozenset[str]] = []
    skipped = 0
    for score, _, c in scored:
        if len(chosen) >= budget:
            break
        if texts is not None and max_similarity is not None:
            grams = shingles(texts[c.id])
            if any(jaccard(grams, other) > max_similarity for other in kept):
                skipped += 1
                continue
            kept.append(grams)
        chosen.append(Chosen(c.id, score))
    notes = []
    if strategy == "committee" and not any(
        c.committee or c.disagreement is not None for c in candidates
    ):
        notes.append(
            "no row carries per-member votes ('committee'); each sample was scored as a "
            "committee member, so committee disagreement equals vote entropy here"
        )
    return Choice(chosen, len(candidates), skipped, notes)


_WORD = re.compile(r"\w+", re.UNICODE)


def shingles(text: str) -> frozenset[str]:
    """Lower-cased word bigrams (the words themselves for texts of one word)."""
    words = _WORD.findall(text.lower())
    if len(words) < 2:
        return frozenset(words)
    return frozenset(f"{a} {b}" for a, b in itertools.pairwise(words))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 1.0


# --- agreement between the model and the reviewers -------------------------------------------


@dataclass(frozen=True)
class ClassAgreement:
    """One label, one-vs-rest: how often model and reviewer agree on "is it this label"."""

    reviewer: int
    """Records the reviewer gave this label."""
    model: int
    """Records the model gave this label."""
    both: int
    accuracy: float
    kappa: float | None


@dataclass(frozen=True)
class Agreement:
    """Model vs reviewer on the reviewed records the model labeled.

    ``accuracy``: share of records where the model's label (multi-label: label set) equals the
    reviewer's. ``kappa``: Cohen's kappa over the labels (multi-label: over the pooled
    record × label yes/no decisions); ``None`` where chance agreement is 1 (kappa undefined).
    """

    records: int
    accuracy: float | None
    kappa: float | None
    per_class: dict[str, ClassAgreement]
    model_unlabeled: int = 0
    """Reviewed records the model had abstained on or failed (not in the statistics)."""


def cohen_kappa(pairs: Sequence[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters over (a, b) pairs; ``None`` when chance agreement is 1."""
    if len({x for pair in pairs for x in pair}) < 2:  # no pairs, or one label for all
        return None
    from sklearn.metrics import cohen_kappa_score

    first, second = zip(*pairs, strict=True)
    return float(cohen_kappa_score(first, second))


def agreement(
    pairs: Sequence[tuple[Label | None, Label]], labels: Sequence[str], *, multi_label: bool
) -> Agreement:
    """Agreement of (model label or None, reviewer label) pairs; per class one-vs-rest."""
    scored = [(m, r) for m, r in pairs if m is not None]
    unlabeled = len(pairs) - len(scored)
    if not scored:
        return Agreement(0, None, None, {}, unlabeled)
    sets = [(_as_set(m), _as_set(r)) for m, r in scored]
    accuracy = sum(m == r for m, r in sets) / len(sets)
    seen = {x for m, r in sets for x in m | r}
    classes = [*labels, *sorted(seen - set(labels))]
    per_class = {k: _one_vs_rest(sets, k) for k in classes}
    if multi_label:
        pooled = [(str(k in m), str(k in r)) for m, r in sets for k in classes]
        kappa = cohen_kappa(pooled)
    else:
        kappa = cohen_kappa([(str(m), str(r)) for m, r in scored])
    return Agreement(len(scored), accuracy, kappa, per_class, unlabeled)


def _one_vs_rest(sets: Sequence[tuple[frozenset[str], frozenset[str]]], k: str) -> ClassAgreement:
    binary = [(str(k in m), str(k in r)) for m, r in sets]
    return ClassAgreement(
        reviewer=sum(k in r for _, r in sets),
        model=sum(k in m for m, _ in sets),
        both=sum(k in m and k in r for m, r in sets),
        accuracy=sum(a == b for a, b in binary) / len(binary),
        kappa=cohen_kappa(binary),
    )


def _as_set(label: Label) -> frozenset[str]:
    if isinstance(label, str):
        return frozenset([label])
    return frozenset(x for x in label if isinstance(x, str))


# --- NER: span agreement ---------------------------------------------------------------------


@dataclass(frozen=True)
class TypeAgreement:
    """One entity type: the reviewers' spans, the model's, the ones both marked (same start,
    end and type), and the model's precision, recall and F1 against the reviewers."""

    reviewer: int
    model: int
    both: int
    precision: float
    recall: float
    f1: float


@dataclass(frozen=True)
class SpanAgreement:
    """Model vs reviewer spans on the reviewed records the model labeled, the reviewers as the
    reference, strict matching (start, end and type, as ``llmlabel eval``): micro ``precision``,
    ``recall``, ``f1`` over all spans, per type, and ``exact``, the share of records whose
    spans the reviewer left exactly as they were. ``None`` where no record was scored."""

    records: int
    exact: float | None
    precision: float | None
    recall: float | None
    f1: float | None
    per_type: dict[str, TypeAgreement]
    model_unlabeled: int = 0


def entity_problem(entities: Entities, types: Sequence[str], text: str | None) -> str | None:
    """What is wrong with an NER answer for review (``None``: nothing): a type outside
    ``types``, offsets that do not select the entity's text in ``text``, overlapping spans
    (a row's BIO tags cannot hold them)."""
    unknown = [s.label for s in entities if s.label not in types]
    if unknown:
        return f"entity type {unknown[0]!r} is not one of the task's ({', '.join(types)})"
    wrong = misplaced(entities, text) if text is not None else None
    if wrong is not None:
        return f"entity {wrong.text!r} is not at {wrong.start}:{wrong.end} in the record's text"
    pair = overlapping(entities)
    if pair is not None:
        return f"entities {pair[0].text!r} and {pair[1].text!r} overlap"
    return None


def span_set(entities: Entities) -> frozenset[tuple[int, int, str]]:
    """What span agreement compares: (start, end, type)."""
    return frozenset((s.start, s.end, s.label) for s in entities)


def span_agreement(
    pairs: Sequence[tuple[Label | None, Label]], types: Sequence[str]
) -> SpanAgreement:
    """Agreement of (model entities or None, reviewer entities) pairs; types in ``types``
    order, then any other type seen."""
    scored = [(_entities(m), _entities(r)) for m, r in pairs if m is not None]
    unlabeled = len(pairs) - len(scored)
    if not scored:
        return SpanAgreement(0, None, None, None, None, {}, unlabeled)
    outcomes = [Outcome(str(i), r, m, 1.0) for i, (m, r) in enumerate(scored)]
    counts = SetCounts.of(outcomes, lambda span: str(span[2]))
    precision, recall, f1 = counts.micro()
    per_type = {}
    for name in [*types, *(t for t in counts.types if t not in types)]:
        score = counts.score(name)
        per_type[name] = TypeAgreement(
            reviewer=counts.gold[name],
            model=counts.predicted[name],
            both=counts.hits[name],
            precision=score.precision,
            recall=score.recall,
            f1=score.f1,
        )
    exact = sum(m == r for m, r in scored) / len(scored)
    return SpanAgreement(len(scored), exact, precision, recall, f1, per_type, unlabeled)


def _entities(label: Label | None) -> frozenset[tuple[int, int, str]]:
    if label is None or isinstance(label, str):
        raise TypeError(f"not an NER answer: {label!r}")
    return span_set(tuple(s for s in label if isinstance(s, Span)))
