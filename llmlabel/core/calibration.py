"""Calibration maps: a record's raw confidence in, the chance its label is right out.

Fitted on (confidence, correct) pairs of labeled records from a gold/dev split. Three methods:

- ``isotonic``: the best non-decreasing step map, scikit-learn's
  ``IsotonicRegression(out_of_bounds="clip")``, stored as its knots: predicted by linear
  interpolation between them and clipped at the ends. Flexible; needs a few hundred records.
- ``platt``: ``sigmoid(a * logit(c) + b)``, the log-loss minimum (scipy) on Platt's smoothed
  targets (``(N₊+1)/(N₊+2)`` for right, ``1/(N₋+2)`` for wrong), which keeps the fit finite when
  the records are separable, as vote shares of 1.0 that are all right are.
- ``temperature``: ``sigmoid(logit(c) / T)``, one parameter (Guo et al., 2017), fitted by
  maximum likelihood; the map keeps 0.5 fixed and only sharpens or softens.

Confidences are clipped to [``EPS``, 1 - ``EPS``] before the logit, so vote shares of 0 and 1
stay finite. Pure: floats in, frozen pydantic values out. scipy and scikit-learn are imported
when a map is fitted, not when one is applied.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Method = Literal["isotonic", "platt", "temperature"]
METHODS: tuple[Method, ...] = ("isotonic", "platt", "temperature")
# The default map: Platt had the lowest held-out ECE on ~100 gold records of six suites, chosen on
# their select halves (eval/results/calibration_methods.md); isotonic overfits samples this small.
DEFAULT_METHOD: Method = "platt"
EPS = 1e-4
"""Confidences are clipped to [EPS, 1 - EPS] before taking the log-odds."""
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0


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
    """scikit-learn's isotonic regression; its knots are the ends of each flat step."""
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(out_of_bounds="clip").fit(
        [float(c) for c in confidences], [float(ok) for ok in correct]
    )
    return Isotonic(x=tuple(fitted.X_thresholds_.tolist()), y=tuple(fitted.y_thresholds_.tolist()))


def fit_platt(confidences: Sequence[float], correct: Sequence[bool]) -> Platt:
    """The log-loss minimum of ``sigmoid(a * logit(c) + b)`` against Platt's targets."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import expit

    right = sum(correct)
    high, low = (right + 1) / (right + 2), 1 / (len(correct) - right + 2)
    z = np.array([logit(c) for c in confidences])
    t = np.array([high if ok else low for ok in correct])
    if np.all(z == z[0]):  # one confidence for all: only the intercept can be fitted
        return Platt(a=0.0, b=logit(float(t.mean())))

    def loss(ab: Any) -> tuple[float, Any]:
        s = ab[0] * z + ab[1]
        r = expit(s) - t
        return float(np.sum(np.logaddexp(0.0, s) - t * s)), np.array([r @ z, r.sum()])

    a, b = minimize(loss, [1.0, 0.0], jac=True, method="BFGS", options={"gtol": 1e-10}).x
    return Platt(a=float(a), b=float(b))


def fit_temperature(confidences: Sequence[float], correct: Sequence[bool]) -> Temperature:
    """Maximum likelihood ``T`` in [MIN_TEMPERATURE, MAX_TEMPERATURE].

    The log-loss is convex in ``1 / T``: its derivative is increasing, and the fit is its root
    (scipy's ``brentq``), or the bound it stays on the same side of.
    """
    import numpy as np
    from scipy.optimize import brentq
    from scipy.special import expit

    z = np.array([logit(c) for c in confidences])
    ok = np.array([float(c) for c in correct])

    def slope(inverse: float) -> float:
        return float((expit(inverse * z) - ok) @ z)

    low, high = 1 / MAX_TEMPERATURE, 1 / MIN_TEMPERATURE
    if slope(low) >= 0:
        return Temperature(temperature=MAX_TEMPERATURE)
    if slope(high) <= 0:
        return Temperature(temperature=MIN_TEMPERATURE)
    inverse = brentq(slope, low, high, xtol=1e-14, rtol=1e-12)
    return Temperature(temperature=min(max(1 / inverse, MIN_TEMPERATURE), MAX_TEMPERATURE))


def logit(confidence: float) -> float:
    c = min(max(confidence, EPS), 1.0 - EPS)
    return math.log(c / (1.0 - c))


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)
