"""The probability of every label from the model's token logprobs. Pure.

A constrained answer ``{"label": "card_arrival"}`` is decoded token by token; at each position
the backend reports the model's top alternatives (before the grammar, so some of them fit no
label). The probability of a label is the product, along its tokens, of each token's
probability renormalised over the alternatives that keep *some* label possible: exactly the
distribution constrained decoding samples from at temperature 1 (up to the top-k cut).

Labels often share their first tokens (``card_arrival`` / ``card_linking``), so the first
token's probability is not the label's. The walk follows the label trie in text space: a
*node* is the answer text so far; an alternative token either settles one label (the grammar
forces the rest of it), or leads to a node shared by several labels, whose alternatives are
needed in turn. The sampled answer itself gives the alternatives along its own path for free;
the walk asks for the other nodes it needs (``missing``), which the runner gets by continuing
the answer from that text (one cheap request per node, the prompt prefix cached).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from llmlabel.core.request import TokenLogprob as Token

Alternatives = Mapping[str, float]
"""Token text -> logprob at one position."""

MIN_MASS = 1e-3
"""Branches with less probability than this are not explored (their mass is dropped and the
rest renormalised), so a walk costs at most a few requests."""


@dataclass
class Walk:
    """A walk's result: ``probs`` over the labels (summing to 1, or empty when nothing could be
    scored) and the nodes (answer prefixes) whose alternatives are still ``missing``; until
    they are known, ``probs`` leaves their mass out and renormalises the rest."""

    probs: dict[str, float] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def value_start(text: str, field_name: str) -> int | None:
    """Where the label's value starts in a JSON answer: just after ``"field": "``."""
    key = json.dumps(field_name)
    at = text.find(key)
    if at < 0:
        return None
    quote = text.find('"', at + len(key))
    return None if quote < 0 else quote + 1


def path_nodes(*paths: Sequence[Token]) -> dict[str, dict[str, float]]:
    """The alternatives known along sampled answers: node text -> {token: logprob}. Where two
    answers pass the same node, their alternatives are pooled, so each one's own token counts
    even when it is outside the other's top list."""
    nodes: dict[str, dict[str, float]] = {}
    for tokens in paths:
        text = ""
        for token in tokens:
            known = nodes.setdefault(text, {})
            for alternative, logprob in (*token.top, (token.text, token.logprob)):
                known.setdefault(alternative, logprob)
            text += token.text
    return nodes


def root_of(tokens: Sequence[Token], start: int) -> str | None:
    """The node where the label begins: the text before the token holding offset ``start``."""
    text = ""
    for token in tokens:
        if len(text) + len(token.text) > start:
            return text
        text += token.text
    return None


def walk(
    labels: Sequence[str],
    prefix: str,
    root: str,
    nodes: Mapping[str, Alternatives],
    min_mass: float = MIN_MASS,
) -> Walk:
    """Label probabilities from the alternatives at ``nodes``.

    ``prefix`` is the answer text before the label's value (``{"label": "``); ``root`` the node
    to start from (a prefix of it, at a token boundary). Labels are JSON-escaped as the answer
    writes them, and a label ends at its closing quote, so ``no`` and ``none`` stay apart.
    """
    ends = {label: prefix + json.dumps(label, ensure_ascii=False)[1:] for label in labels}
    mass = dict.fromkeys(labels, 0.0)
    result = Walk()
    stack = [(root, 1.0)]
    while stack:
        node, weight = stack.pop()
        alternatives = nodes.get(node)
        if alternatives is None:
            result.missing.append(node)
            continue
        fits = _fitting(node, alternatives, ends)
        total = sum(math.exp(lp) for lp, _ in fits.values())
        if total <= 0:
            continue  # nothing there fits a label: that mass is left out
        for text, (logprob, owners) in fits.items():
            share = weight * math.exp(logprob) / total
            if len(owners) == 1:
                mass[owners[0]] += share
            elif share >= min_mass:
                stack.append((text, share))
    found = sum(mass.values())
    if found > 0:
        result.probs = {label: m / found for label, m in mass.items()}
    return result


def _fitting(
    node: str, alternatives: Alternatives, ends: Mapping[str, str]
) -> dict[str, tuple[float, list[str]]]:
    """The alternatives that keep some label possible: next text -> (logprob, its labels).
    Tokens that spell the same text (a rare tokenizer duplicate) are pooled."""
    fits: dict[str, tuple[float, list[str]]] = {}
    for token, logprob in alternatives.items():
        text = node + token
        owners = [
            label for label, end in ends.items() if end.startswith(text) or text.startswith(end)
        ]
        if owners and token:
            if text in fits:
                logprob = float(math.log(math.exp(fits[text][0]) + math.exp(logprob)))
            fits[text] = (logprob, owners)
    return fits


def list_end(alternatives: Alternatives, quoted: bool) -> tuple[float, float, float]:
    """Right after an item's label in a list answer (``quoted``: after its closing quote too),
    the model's probability mass on another item (``,``), on ending the list (``]``), and on
    tokens that decide neither yet (a lone closing quote, whitespace). Tokens that fit none of
    the three (the label going on, say) are left out; the masses are not renormalised."""
    more = end = undecided = 0.0
    for token, logprob in alternatives.items():
        rest = token
        if not quoted:
            if not token.startswith('"'):
                continue
            rest = token[1:]
        rest = rest.lstrip()
        mass = math.exp(logprob)
        if rest.startswith(","):
            more += mass
        elif rest.startswith("]"):
            end += mass
        elif not rest:
            undecided += mass
    return more, end, undecided


def mean(distributions: Sequence[Mapping[str, float]], labels: Sequence[str]) -> dict[str, float]:
    """The average of several label distributions (samples, prompts), over ``labels``."""
    if not distributions:
        return {}
    n = len(distributions)
    return {label: sum(d.get(label, 0.0) for d in distributions) / n for label in labels}


CONTENT_FREE = ("N/A", "[MASK]", "…")
"""Inputs with no content (Zhao et al. 2021): what the model answers for them is its bias."""


def debias(probs: Mapping[str, float], prior: Mapping[str, float]) -> dict[str, float]:
    """Contextual calibration: divide out the label prior the model shows on content-free
    inputs, renormalise. The prior is mixed half and half with the uniform one first, so a
    label the content-free inputs never name is not divided by (nearly) zero."""
    if not probs:
        return {}
    uniform = 1 / len(probs)
    raw = {label: p / (prior.get(label, uniform) / 2 + uniform / 2) for label, p in probs.items()}
    total = sum(raw.values())
    return {label: p / total for label, p in raw.items()} if total > 0 else dict(probs)


def argmax(probs: Mapping[str, float], order: Sequence[str]) -> str:
    """The most probable label; a tie goes to the label listed first."""
    return max(order, key=lambda label: (probs.get(label, 0.0), -order.index(label)))


# Answers that are lists of items (multi-label labels, NER spans, relation triples) get a
# probability per item from the tokens that spell it: the product of the sampled tokens'
# probabilities over the item's string values and their closing quotes (the model deciding
# where a span ends counts). The structure between them is left out (the grammar forces it);
# so is the choice to add the item at all, which only more samples show. An answer with no
# items gets the probability of closing its list at once. Like the label walk, these are the
# backend's probabilities before the grammar.


def item_probs(
    tokens: Sequence[Token], field_name: str, items: Sequence[tuple[object, Sequence[str]]]
) -> dict[object, float]:
    """Each item's probability from ``tokens`` (the answer ``{field_name: [...]}``); ``items``:
    (item, its string values as written in the answer, in order), in answer order. An item
    whose values are not found (a re-asked answer's tokens are not the sample's) is left out."""
    text = "".join(token.text for token in tokens)
    start = text.find(json.dumps(field_name))
    if start < 0:
        return {}
    found: dict[object, float] = {}
    cursor = start
    for item, values in items:
        ranges = _ranges(text, values, cursor) or _ranges(text, values, start)
        if ranges:
            found[item] = _probability(tokens, ranges)
            cursor = ranges[-1][1]
    return found


def empty_probability(tokens: Sequence[Token], field_name: str) -> float | None:
    """The probability of answering ``{field_name: []}``: of the tokens closing the list right
    after it opens; None when the answer's list is not empty (or not there)."""
    text = "".join(token.text for token in tokens)
    key = text.find(json.dumps(field_name))
    opening = text.find("[", key) if key >= 0 else -1
    if opening < 0:
        return None
    closing = opening + 1 + len(text[opening + 1 :]) - len(text[opening + 1 :].lstrip())
    if text[closing : closing + 1] != "]":
        return None
    return _probability(tokens, [(opening + 1, closing + 1)])


def _ranges(text: str, values: Sequence[str], cursor: int) -> list[tuple[int, int]] | None:
    """Character ranges of ``values`` (contents and closing quotes) in order from ``cursor``."""
    ranges = []
    for value in values:
        found = _find(text, value, cursor)
        if found is None:
            return None
        ranges.append(found)
        cursor = found[1]
    return ranges


def _find(text: str, value: str, cursor: int) -> tuple[int, int] | None:
    for spelled, skip in _spellings(value):
        at = text.find(spelled, cursor)
        if at >= 0:
            return at + skip, at + len(spelled)
    return None


def _spellings(value: str) -> list[tuple[str, int]]:
    """How a string value may be written in JSON, with the length of what precedes its
    contents: quoted (the opening quote is the structure's, not the value's), then without
    its quotes (a mention written with spaces around it is recovered stripped)."""
    found = []
    for quoted in dict.fromkeys([json.dumps(value, ensure_ascii=False), json.dumps(value)]):
        found += [(quoted, 1), (quoted[1:], 0), (quoted[:-1], 1), (quoted[1:-1], 0)]
    return found


def _probability(tokens: Sequence[Token], ranges: Sequence[tuple[int, int]]) -> float:
    """The product of the probabilities of the tokens overlapping any of ``ranges``."""
    total, at = 0.0, 0
    for token in tokens:
        end = at + len(token.text)
        if any(at < high and end > low for low, high in ranges):
            total += token.logprob
        at = end
    return math.exp(total)
