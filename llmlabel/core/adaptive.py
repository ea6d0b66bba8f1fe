"""Adaptive self-consistency: when a record's vote is settled, stop sampling it. Pure.

A record is sampled in rounds (``adaptive.min`` samples first, then ``adaptive.batch`` at a
time, never more than ``samples`` in all). After each round the kind's rule looks at the votes
so far and the samples still allowed, and the record stops early when either holds:

- **unbeatable**: the leader is ahead of the runner-up by more than the samples left, so no
  continuation can change the winner (exact; ties are not counted as settled);
- **posterior**: under a uniform Beta prior on the leader's share of the two front-runners'
  votes, ``P(leader's share > 1/2) >= level``; i.e. the leader would most likely stay in front.

Multi-label applies both to every label's yes/no decision. Invalid samples vote for nothing,
exactly as in ``llmlabel.core.vote``, so a record with many invalid answers keeps sampling.

A record that stopped early reports the vote share it would be expected to reach over the whole
budget (``projected_share``), not the share of the few samples drawn: 3 of 3 agreeing is not
the certainty 1.0 claims (on 100 TREC records the 3-of-3 stops were 84% right).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from math import comb


def beta_above_half(a: int, b: int) -> float:
    """``P(X > 1/2)`` for ``X ~ Beta(a, b)`` with integer ``a, b >= 1``.

    For integer parameters ``I_x(a, b) = P(Binomial(a + b - 1, x) >= a)``, so the tail is an
    exact finite sum (no special functions needed).
    """
    if a < 1 or b < 1:
        raise ValueError("Beta parameters must be >= 1")
    trials = a + b - 1
    at_most_half = sum(comb(trials, k) for k in range(a, trials + 1)) / (1 << trials)
    return 1.0 - at_most_half


def projected_share(share: float, drawn: int, budget: int) -> float:
    """The expected vote share over ``budget`` samples of an answer that has ``share`` of the
    ``drawn`` ones: the drawn votes plus the undrawn ones at the posterior mean share (uniform
    Beta prior on answer-vs-rest, so ``(k + 1) / (drawn + 2)``). ``share`` itself when the whole
    budget was drawn; e.g. 3 of 3 with a budget of 10 gives (3 + 7 * 0.8) / 10 = 0.86."""
    if drawn <= 0 or drawn >= budget:
        return share
    agree = share * drawn
    mean = (agree + 1) / (drawn + 2)
    return (agree + (budget - drawn) * mean) / budget


def decided(leader: int, runner_up: int, remaining: int, level: float | None) -> bool:
    """One decision between two options with these vote counts and ``remaining`` samples."""
    if leader > runner_up + remaining:
        return True
    return level is not None and beta_above_half(leader + 1, runner_up + 1) >= level


def plurality_settled(
    values: Sequence[Hashable | None], remaining: int, level: float | None
) -> bool:
    """Classification-style votes: is the plurality winner settled?"""
    counts = sorted(Counter(v for v in values if v is not None).values(), reverse=True)
    if not counts:
        return remaining == 0
    leader, runner_up = counts[0], counts[1] if len(counts) > 1 else 0
    return decided(leader, runner_up, remaining, level)


def per_label_settled(
    values: Sequence[frozenset[str] | None], remaining: int, level: float | None
) -> bool:
    """Multi-label votes: is every label's keep/drop decision settled?

    A label no sample has named yet is settled on "drop" by the same rule (all valid samples
    voted no on it), so it needs no separate treatment.
    """
    valid = [v for v in values if v is not None]
    if not valid:
        return remaining == 0
    yes = Counter(label for labels in valid for label in labels)
    no_votes_for_unnamed = len(valid)
    if not decided(no_votes_for_unnamed, 0, remaining, level):
        return False
    return all(
        decided(max(count, len(valid) - count), min(count, len(valid) - count), remaining, level)
        for count in yes.values()
    )
