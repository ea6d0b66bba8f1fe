"""Committee voting: several voters on one record, their votes merged, their disagreement kept.

A voter (a *member*) is a prompt/model pair whose samples vote, or a labeling function (a
keyword or regex rule, or a Python callable) that votes or abstains. Each kind that committees
vote on has its ``CommitteeRules``: this module's ``SINGLE`` (classification, relation: one label
per sample) and ``llmlabel.core.committee_sets`` (multi-label and NER: a set of items per
sample, each item voted yes or no with the rules below). Rules for one label per sample:

- A member's vote distribution ``p_m``: a model member's shares over its samples, an invalid
  sample voting for the outcome ``INVALID`` (so invalid answers lower confidence, as in
  ``plurality``); a labeling function's is one-hot on its label. A labeling function that
  abstains, and a member with no samples (it failed), are not members of that record's vote.
- The consensus is the weight-averaged distribution ``c = Σ w_m p_m / Σ w_m``. The label is
  the one with the largest consensus share (``INVALID`` never wins); ``confidence`` is that
  share. Ties go to the label listed first and are flagged. No label with a share → abstain.
- Disagreement (query-by-committee): ``entropy`` = H(c) in nats (vote entropy, ``INVALID``
  an outcome of its own); ``kl[m]`` = KL(p_m ‖ c); ``disagreement`` = Σ w_m KL(p_m ‖ c) / Σ w_m
  (the weighted Jensen–Shannon divergence). One member alone: its shares, zero disagreement.

Pure: labeling functions are compiled here from their declarations, but a Python callable is
loaded by ``llmlabel.runs.committee``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmlabel.core.vote import Vote, ordered

INVALID = "\0invalid"
"""The outcome an invalid sample votes for (never a label: labels cannot hold NUL)."""

LabelingFunction = Callable[[Mapping[str, Any]], Any]
"""A record's fields -> the rule's answer (its kind's ``CommitteeRules.answer`` checks it), or
``None`` to abstain."""


@dataclass(frozen=True)
class Member:
    """One voter's votes on one record: ``votes`` are valid votes per label, ``invalid`` the
    samples without a valid answer, ``weight`` the member's weight in the consensus."""

    name: str
    votes: Mapping[str, int]
    invalid: int = 0
    weight: float = 1.0

    @property
    def total(self) -> int:
        return sum(self.votes.values()) + self.invalid

    def shares(self) -> dict[str, float]:
        """``p_m``: the member's vote distribution, ``INVALID`` included (empty: no samples)."""
        total = self.total
        outcomes = {**self.votes, INVALID: self.invalid}
        return {k: n / total for k, n in outcomes.items() if n} if total else {}


@dataclass(frozen=True)
class Disagreement:
    consensus: dict[str, float]
    entropy: float
    kl: dict[str, float]
    disagreement: float


def entropy(shares: Iterable[float]) -> float:
    """Shannon entropy in nats; zero shares contribute nothing."""
    return 0.0 - sum(p * math.log(p) for p in shares if p > 0)  # 0.0, not -0.0


def kl_divergence(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """KL(p ‖ q) in nats; ``q`` must be positive wherever ``p`` is (a consensus always is)."""
    return sum(pv * math.log(pv / q[k]) for k, pv in p.items() if pv > 0)


def disagreement(members: Sequence[Member]) -> Disagreement:
    """Consensus, vote entropy and each member's KL from the consensus (module docstring).
    Members without samples take no part."""
    voting = [(m, m.shares()) for m in members if m.total and m.weight > 0]
    weight = sum(m.weight for m, _ in voting)
    if not voting:
        return Disagreement({}, 0.0, {}, 0.0)
    consensus: dict[str, float] = {}
    for m, shares in voting:
        for k, p in shares.items():
            consensus[k] = consensus.get(k, 0.0) + m.weight * p / weight
    kl = {m.name: max(0.0, kl_divergence(shares, consensus)) for m, shares in voting}
    mean = sum(m.weight * kl[m.name] for m, _ in voting) / weight
    return Disagreement(consensus, entropy(consensus.values()), kl, mean)


def committee_vote(
    members: Sequence[Member], order: Sequence[str], reasons: Sequence[str] = ()
) -> tuple[Vote, Disagreement]:
    """The merged vote over ``members`` and their disagreement. ``Vote.counts`` are the
    unweighted valid votes of all members (samples and labeling functions); ``total`` all
    their votes, invalid ones included."""
    found = disagreement(members)
    total = sum(m.total for m in members)
    counts: dict[str, int] = {}
    for m in members:
        for label, n in m.votes.items():
            counts[label] = counts.get(label, 0) + n
    rank = {label: i for i, label in enumerate(order)}
    ranked = sorted(
        ((share, label) for label, share in found.consensus.items() if label != INVALID),
        key=lambda t: (-round(t[0], 12), rank.get(t[1], len(rank)), t[1]),
    )
    if not ranked:
        return no_valid_vote(len(members), total, reasons), found
    best, label = ranked[0]
    tie = len(ranked) > 1 and round(ranked[1][0], 12) == round(best, 12)
    return Vote(label, best, ordered(counts, order), total, tie=tie), found


@dataclass(frozen=True)
class Ballot:
    """One voter's answers on one record: ``values`` the kind's vote value per sample (``None``:
    an invalid sample; a labeling function has one value). ``partial``: on a set kind, the voter
    votes on the items it names only (a keyword or regex rule names one label, so it has no
    say on the others); else on every item."""

    name: str
    values: tuple[Hashable | None, ...]
    weight: float = 1.0
    partial: bool = False

    @property
    def invalid(self) -> int:
        return sum(v is None for v in self.values)


@dataclass(frozen=True)
class Merged:
    """A committee's vote on one record, its disagreement, and ``votes``: each member's valid
    votes as the row's ``committee.votes`` shows them (``{label or span: count}``)."""

    vote: Vote
    found: Disagreement
    votes: dict[str, dict[str, int]]


Merge = Callable[[Sequence[Ballot], Sequence[str], Sequence[str]], Merged]
"""(ballots, the task's labels in order, invalid samples' reasons) -> the merged vote."""
Answer = Callable[[Any, Sequence[str], Mapping[str, Any]], Hashable]
"""(a labeling function's answer, the labels, the record) -> its vote value; ``ValueError``
says what is wrong with the answer."""
PatternRule = Callable[[str, re.Pattern[str], Sequence[str]], LabelingFunction]
"""(label, pattern, fields) -> the keyword or regex labeling function."""


@dataclass(frozen=True)
class CommitteeRules:
    """How committees vote on a kind: ``merge`` the ballots; ``answer`` checks what a labeling
    function returned; ``pattern`` makes keyword and regex rules; ``returns`` says what a
    Python labeling function may return (for hints); ``fields``: the record fields rules may
    read (``None``: any)."""

    merge: Merge
    answer: Answer
    pattern: PatternRule
    returns: Callable[[Sequence[str]], str]
    fields: tuple[str, ...] | None = None


def merge_single(
    ballots: Sequence[Ballot], order: Sequence[str], reasons: Sequence[str] = ()
) -> Merged:
    """``committee_vote`` over ballots of one label per sample."""
    members = []
    for b in ballots:
        counts = ordered(Counter(str(v) for v in b.values if v is not None), order)
        members.append(Member(b.name, counts, b.invalid, b.weight))
    vote, found = committee_vote(members, order, reasons)
    return Merged(vote, found, {m.name: dict(m.votes) for m in members})


def single_answer(answer: Any, labels: Sequence[str], record: Mapping[str, Any]) -> str:
    if not isinstance(answer, str) or answer not in labels:
        raise ValueError("not a label of the task")
    return answer


def no_valid_vote(members: int, total: int, reasons: Sequence[str]) -> Vote:
    """The abstention of a committee whose ``members`` gave no valid vote in ``total``."""
    why = f"no valid vote from {members} committee member{'s' if members != 1 else ''}"
    if reasons:
        why += f" (first: {reasons[0]})"
    return Vote(label=None, confidence=0.0, total=total, abstain_reason=why)


def keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str]:
    """Any of ``keywords`` as whole words, in any case."""
    alternatives = "|".join(re.escape(k) for k in sorted(keywords, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def keyword_rule(label: str, keywords: Sequence[str], fields: Sequence[str]) -> LabelingFunction:
    """Votes ``label`` when any keyword occurs as whole words (case-insensitive) in ``fields``."""
    return regex_rule(label, keyword_pattern(keywords), fields)


def regex_rule(label: str, pattern: re.Pattern[str], fields: Sequence[str]) -> LabelingFunction:
    """Votes ``label`` when ``pattern`` matches anywhere in ``fields``, else abstains (a
    missing field is a ``KeyError``: the caller names the record)."""

    def rule(record: Mapping[str, Any]) -> str | None:
        text = "\n".join(str(record[f]) for f in fields if record[f] is not None)
        return label if pattern.search(text) else None

    return rule


SINGLE = CommitteeRules(
    merge=merge_single,
    answer=single_answer,
    pattern=regex_rule,
    returns=lambda labels: f"one of {', '.join(labels)}",
)
"""Classification and relation committees: one label per sample."""
