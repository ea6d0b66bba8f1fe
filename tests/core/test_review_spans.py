"""NER review math on hand-made rows: uncertainty per span decision, span agreement."""

from __future__ import annotations

import math

import pytest

from llmlabel.core.review import Candidate, entity_problem, span_agreement, uncertainty
from llmlabel.core.spans import Span

MERKEL = Span(0, 13, "PER", "Angela Merkel")
PARIS = Span(37, 42, "LOC", "Paris")
TEXT = "Angela Merkel met Emmanuel Macron in Paris on Monday."


def ner(votes: dict[str, int], valid: int, invalid: int = 0) -> Candidate:
    """A row of ``valid + invalid`` samples; its confidence as ``span_vote`` computes it."""
    total = valid + invalid
    decided = [max(n, valid - n) / total for n in votes.values()]
    confidence = min(decided, default=valid / total)
    return Candidate("n", (MERKEL,), confidence, votes, valid, invalid, spans=True)


def h(*shares: float) -> float:
    return -sum(x * math.log(x) for x in shares if x)


def test_span_rows_are_scored_decision_by_decision() -> None:
    # 5 samples: Merkel found by 5, Paris by 3 (kept), "Macron" by 1 (rejected)
    c = ner({"0:13 PER": 5, "37:42 LOC": 3, "18:33 PER": 1}, valid=5)
    assert uncertainty(c, "least_confidence") == pytest.approx(1 - 0.6)  # weakest decision: Paris
    assert uncertainty(c, "margin") == pytest.approx(1 - (3 - 2) / 5)
    assert uncertainty(c, "entropy") == pytest.approx(h(0.6, 0.4) + h(0.2, 0.8))
    assert uncertainty(c, "committee") == pytest.approx(uncertainty(c, "entropy"))


def test_no_span_found_is_one_decision_that_invalid_samples_weaken() -> None:
    sure = ner({}, valid=5)
    assert uncertainty(sure, "margin") == 0.0 and uncertainty(sure, "entropy") == 0.0
    shaky = ner({}, valid=3, invalid=2)
    assert uncertainty(shaky, "least_confidence") == pytest.approx(0.4)
    assert uncertainty(shaky, "margin") == pytest.approx(0.4)
    assert uncertainty(shaky, "entropy") == pytest.approx(
        -(0.6 * math.log(0.6) + 0.4 * math.log(0.4))
    )


def test_span_agreement_by_hand() -> None:
    kenya, nigeria = Span(31, 36, "LOC", "Kenya"), Span(41, 48, "LOC", "Nigeria")
    italian, milan = Span(0, 7, "LOC", "Italian"), Span(37, 42, "LOC", "Milan")
    pairs = [
        ((nigeria,), (kenya, nigeria)),  # the model missed Kenya
        ((italian, milan), (italian._replace(label="MISC"), milan)),  # wrong type
        ((MERKEL, PARIS), (MERKEL, PARIS)),  # left as it was
        (None, (PARIS,)),  # the model abstained: not scored
    ]
    a = span_agreement(pairs, ["PER", "ORG", "LOC", "MISC"])
    assert a.records == 3 and a.model_unlabeled == 1
    assert a.exact == pytest.approx(1 / 3)
    assert (a.precision, a.recall) == pytest.approx((4 / 5, 4 / 6))
    assert a.f1 == pytest.approx(2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6))
    loc = a.per_type["LOC"]
    assert (loc.reviewer, loc.model, loc.both) == (4, 4, 3)
    assert (loc.precision, loc.recall) == pytest.approx((0.75, 0.75))
    misc = a.per_type["MISC"]
    assert (misc.reviewer, misc.model, misc.both, misc.f1) == (1, 0, 0, 0.0)
    assert a.per_type["ORG"].reviewer == 0 and list(a.per_type) == ["PER", "ORG", "LOC", "MISC"]
    empty = span_agreement([(None, ())], ["PER"])
    assert empty.records == 0 and empty.f1 is None


def test_entity_problems_are_named() -> None:
    assert entity_problem((MERKEL, PARIS), ["PER", "LOC"], TEXT) is None
    assert "'PERSON'" in str(entity_problem((MERKEL._replace(label="PERSON"),), ["PER"], TEXT))
    assert "not at 1:14" in str(
        entity_problem((Span(1, 14, "PER", "Angela Merkel"),), ["PER"], TEXT)
    )
    angela = Span(0, 6, "PER", "Angela")
    assert "overlap" in str(entity_problem((angela, MERKEL), ["PER"], None))
