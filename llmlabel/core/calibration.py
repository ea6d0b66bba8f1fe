"""Calibration maps: a record's raw confidence in, the chance its label is right out.

Fitted on (confidence, correct) pairs of labeled records from a gold/dev split. Three methods:

- ``isotonic``: the best non-decreasing step map (pool-adjacent-violators), predicted by linear
  interpolation between its knots and clipped at the ends, as scikit-learn's
  ``IsotonicRegression(out_of_bounds="clip")``. Flexible; needs a few hundred records.
- ``platt``: ``sigmoid(a * logit(c) + b)``, fitted by Newton's method on Platt's smoothed targets
  (``(N₊+1)/(N₊+2)`` for right, ``1/(N₋+2)`` for wrong), which keeps the fit finite when the
  records are separable, as vote shares of 1.0 that are all right are.
- ``temperature``: ``sigmoid(logit(c) / T)``, one parameter (Guo et al., 2017), fitted by
  maximum likelihood; the map keeps 0.5 fixed and only sharpens or softens.

Confidences are clipped to [``EPS``, 1 - ``EPS``] before the logit, so vote shares of 0 and 1
stay finite. Pure: floats in, frozen pydantic values out.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["isotonic", "platt", "temperature"]
METHODS: tuple[Method, ...] = ("isotonic", "platt", "temperature")
# The default map: Platt had the lowest held-out ECE on ~100 gold records of six suites, chosen on
# their select halves (eval/results/calibration_methods.md); isotonic overfits samples this small.
DEFAULT_METHOD: Method = "platt"
EPS = 1e-4
"""Confidences are clipped to [EPS, 1 - EPS] before taking the log-odds."""
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0
_NEWTON_STEPS = 100


class _Map(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Isotonic(_Map):
    """A non-decreasing map through the knots (x, y), linear between them, flat outside."""

    method: Literal["isotonic"] = "isotonic"
    x: tuple[float, ...] = Field(min_length=1)
    y: tuple[float, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Isotonic:
        if len(self.x) != len(self.y):
            raise ValueError("x and y must have the same length")
        if any(b <= a for a, b in itertools.pairwise(self.x)):
            raise ValueError("x must be strictly increasing")
        if any(b < a for a, b in itertools.pairwise(self.y)):
            raise ValueError("y must be non-decreasing")
        if not all(0.0 <= v <= 1.0 for v in (*self.x, *self.y)):
            raise ValueError("x and y must lie in [0, 1]")
        return self

    def __call__(self, confidence: float) -> float:
        x, y = self.x, self.y
        if confidence <= x[0]:
            return y[0]
        if confidence >= x[-1]:
            return y[-1]
        i = bisect.bisect_right(x, confidence)
        share = (confidence - x[i - 1]) / (x[i] - x[i - 1])
        return y[i - 1] + share * (y[i] - y[i - 1])


class Platt(_Map):
    """``sigmoid(a * logit(c) + b)``."""

    method: Literal["platt"] = "platt"
    a: float
    b: float

    def __call__(self, confidence: float) -> float:
        return _sigmoid(self.a * logit(confidence) + self.b)


class Temperature(_Map):
    """``sigmoid(logit(c) / temperature)``."""

    method: Literal["temperature"] = "temperature"
    temperature: float = Field(ge=MIN_TEMPERATURE, le=MAX_TEMPERATURE)

    def __call__(self, confidence: float) -> float:
        return _sigmoid(logit(confidence) / self.temperature)


CalibrationMap = Annotated[Isotonic | Platt | Temperature, Field(discriminator="method")]


def fit(method: Method, confidences: Sequence[float], correct: Sequence[bool]) -> CalibrationMap:
    """Fit a calibration map of ``method`` to records' confidences and correctness."""
    if len(confidences) != len(correct):
        raise ValueError("confidences and correct must have the same length")
    if not confidences:
        raise ValueError("no records to fit a calibration map on")
    if method == "isotonic":
        return fit_isotonic(confidences, correct)
    if method == "platt":
        return fit_platt(confidences, correct)
    return fit_temperature(confidences, correct)


def fit_isotonic(confidences: Sequence[float], correct: Sequence[bool]) -> Isotonic:
    """Pool adjacent violators over the distinct confidences (equal ones pooled first)."""
    # Blocks of [sum of correct, count, lowest x, highest x], merged while they decrease.
    blocks: list[list[float]] = []
    for x, group in _groups(confidences, correct):
        blocks.append([sum(group), len(group), x, x])
        while len(blocks) > 1 and blocks[-2][0] * blocks[-1][1] >= blocks[-1][0] * blocks[-2][1]:
            total, count, _, high = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
            blocks[-1][3] = high
    xs: list[float] = []
    ys: list[float] = []
    for total, count, low, high in blocks:
        for x in (low, high) if high > low else (low,):
            xs.append(x)
            ys.append(total / count)
    return Isotonic(x=tuple(xs), y=tuple(ys))


def fit_platt(confidences: Sequence[float], correct: Sequence[bool]) -> Platt:
    """Newton's method on the log-loss of ``sigmoid(a * logit(c) + b)`` with Platt's targets."""
    right = sum(correct)
    wrong = len(correct) - right
    high, low = (right + 1) / (right + 2), 1 / (wrong + 2)
    z = [logit(c) for c in confidences]
    t = [high if ok else low for ok in correct]
    if len(set(z)) == 1:  # one confidence for all: only the intercept can be fitted
        return Platt(a=0.0, b=logit(math.fsum(t) / len(t)))

    def loss(a: float, b: float) -> float:
        return math.fsum(
            _log1pexp(a * zi + b) - ti * (a * zi + b) for zi, ti in zip(z, t, strict=True)
        )

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(_NEWTON_STEPS):
        ga = gb = haa = hab = hbb = 0.0
        for zi, ti in zip(z, t, strict=True):
            p = _sigmoid(a * zi + b)
            r, w = p - ti, p * (1 - p)
            ga, gb = ga + r * zi, gb + r
            haa, hab, hbb = haa + w * zi * zi, hab + w * zi, hbb + w
        det = haa * hbb - hab * hab
        if det <= 0:
            break
        da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        step = 1.0
        while step > 1e-8 and (trial := loss(a - step * da, b - step * db)) > current:
            step /= 2  # damped Newton: never let the loss rise
        if step <= 1e-8:
            break
        a, b, current = a - step * da, b - step * db, trial
        if abs(step * da) + abs(step * db) < 1e-10:
            break
    return Platt(a=a, b=b)


def fit_temperature(confidences: Sequence[float], correct: Sequence[bool]) -> Temperature:
    """Maximum likelihood ``T`` in [MIN_TEMPERATURE, MAX_TEMPERATURE].

    The log-loss is convex in ``1 / T``, so its derivative is increasing: bisect on its sign.
    """
    z = [logit(c) for c in confidences]

    def slope(inverse: float) -> float:
        return math.fsum(
            (_sigmoid(inverse * zi) - ok) * zi for zi, ok in zip(z, correct, strict=True)
        )

    low, high = 1 / MAX_TEMPERATURE, 1 / MIN_TEMPERATURE
    if slope(low) >= 0:
        return Temperature(temperature=MAX_TEMPERATURE)
    if slope(high) <= 0:
        return Temperature(temperature=MIN_TEMPERATURE)
    for _ in range(200):
        middle = (low + high) / 2
        if slope(middle) < 0:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * high:
            break
    return Temperature(temperature=min(max(2 / (low + high), MIN_TEMPERATURE), MAX_TEMPERATURE))


def logit(confidence: float) -> float:
    c = min(max(confidence, EPS), 1.0 - EPS)
    return math.log(c / (1.0 - c))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _log1pexp(z: float) -> float:
    return z + math.log1p(math.exp(-z)) if z > 0 else math.log1p(math.exp(z))


def _groups(
    confidences: Sequence[float], correct: Sequence[bool]
) -> list[tuple[float, list[bool]]]:
    """Correctness grouped by distinct confidence, lowest confidence first."""
    by_value: dict[float, list[bool]] = {}
    for c, ok in zip(confidences, correct, strict=True):
        by_value.setdefault(float(c), []).append(bool(ok))
    return sorted(by_value.items())
