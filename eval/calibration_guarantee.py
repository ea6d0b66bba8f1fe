"""Check the keep/review threshold's guarantee, and calibration, on real predictions.

    python eval/calibration_guarantee.py --splits 1000 \\
        eval/results/raw/sst2/task-0shot-5s-200.jsonl eval/results/raw/sst2/task-8shot-5s-200.jsonl

For each predictions file (scored against ``--gold``, default the SST-2 test gold; only the ids
in both count) and each method and target, ``--splits`` times: shuffle the records (seeded by
the split number), give one half to exactly what ``llmlabel calibrate`` does (fit the map on
half of it, choose the threshold on the other half) and measure on the other half:

- **violations**: the share of splits whose kept labels on the test half are less than
  ``target`` accurate. The guarantee says at most ``delta``, up to the test half's own
  sampling noise (which can only add violations when the true accuracy sits near the target).
- **population violations**: the same with the calibration half drawn with replacement from
  the whole file and the kept accuracy measured on the whole file, which is then exactly the
  population the guarantee is about (no test-half noise).
- coverage on the test half, how often no threshold passed, and ECE (10 equal-width bins) on
  the test half before and after calibration.

The SST-2 predictions come from ``python eval/gold.py --suite sst2 --limit 200 --shots 0,8
--samples 1,5`` (gitignored outputs under ``eval/results/raw/sst2``).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from llmlabel.commands.calibrate import read_outcomes
from llmlabel.core import reliability
from llmlabel.core.calibration import METHODS, Method
from llmlabel.core.crossfit import Router, cross_fit
from llmlabel.core.metrics import Outcome

EVAL = Path(__file__).resolve().parent
DEFAULT_GOLD = EVAL.parent.parent / "shared" / "data" / "gold" / "sst2" / "test.jsonl"


@dataclass
class Trial:
    threshold: float | None
    violated: bool
    coverage: float
    ece_before: float
    ece_after: float


def kept_accuracy(router: Router, outcomes: Sequence[Outcome]) -> tuple[int, float | None]:
    kept = [o for o in router.outcomes(outcomes) if router.keeps(o.status, o.confidence)]
    return len(kept), (sum(o.correct for o in kept) / len(kept) if kept else None)


def trial(
    outcomes: Sequence[Outcome],
    method: Method,
    target: float,
    delta: float,
    split: int,
    population: bool,
) -> Trial:
    rng = random.Random(split)
    if population:  # calibration drawn i.i.d. from the file; the file is the population
        calibration = [rng.choice(outcomes) for _ in range(len(outcomes) // 2)]
        # Records drawn twice get distinct ids so pairing and splitting treat them as two.
        calibration = [
            Outcome(f"{o.id}#{i}", o.gold, o.predicted, o.confidence, o.status, o.match)
            for i, o in enumerate(calibration)
        ]
        test: Sequence[Outcome] = outcomes
    else:
        shuffled = list(outcomes)
        rng.shuffle(shuffled)
        calibration, test = shuffled[: len(shuffled) // 2], shuffled[len(shuffled) // 2 :]
    fitted = cross_fit(calibration, method, target=target, delta=delta, seed=split)
    assert fitted.selection is not None
    router = Router(fitted.map, fitted.selection.threshold)
    kept, accuracy = kept_accuracy(router, test)
    return Trial(
        threshold=router.threshold,
        violated=accuracy is not None and accuracy < target,
        coverage=kept / len(test),
        ece_before=reliability.ece(test).ece,
        ece_after=reliability.ece(router.outcomes(test)).ece,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("predictions", nargs="+", type=Path)
    parser.add_argument("--gold", type=Path, default=DEFAULT_GOLD)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--targets", default="0.8,0.85,0.9")
    parser.add_argument("--delta", type=float, default=0.05)
    parser.add_argument("--splits", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=EVAL / "results" / "calibration.md")
    args = parser.parse_args(argv)
    methods = [m for m in METHODS if m in args.methods.split(",")]
    targets = [float(t) for t in args.targets.split(",")]
    lines = [
        "# Calibration and the keep/review guarantee on real predictions",
        "",
        f"`python {' '.join(['eval/calibration_guarantee.py', *sys.argv[1:]])}`",
        "",
        f"δ = {args.delta}; {args.splits} seeded splits per row; gold: `{args.gold.name}` of "
        f"`{args.gold.parent.name}`. Violations: share of splits whose kept labels on the test "
        "half are below the target (the guarantee: ≤ δ, up to test-half noise); population: the "
        "calibration half drawn with replacement and kept accuracy measured on the whole file.",
        "",
        "| predictions | records (acc.) | method | target | violations | population "
        "violations | no threshold | coverage (mean) | ECE before → after (test half) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in args.predictions:
        _, outcomes = read_outcomes(path, args.gold, None, allow_missing=True)
        accuracy = sum(o.correct for o in outcomes) / len(outcomes)
        for method in methods:
            for target in targets:
                runs = [
                    trial(outcomes, method, target, args.delta, s, False)
                    for s in range(args.splits)
                ]
                pop = [
                    trial(outcomes, method, target, args.delta, s, True) for s in range(args.splits)
                ]
                row = (
                    f"| {path.name} | {len(outcomes)} ({accuracy:.3f}) | {method} | {target} | "
                    f"{_share(r.violated for r in runs)} | {_share(r.violated for r in pop)} | "
                    f"{_share(r.threshold is None for r in runs)} | "
                    f"{statistics.fmean(r.coverage for r in runs):.3f} | "
                    f"{statistics.fmean(r.ece_before for r in runs):.3f} → "
                    f"{statistics.fmean(r.ece_after for r in runs):.3f} |"
                )
                lines.append(row)
                print(row, flush=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def _share(flags: Iterable[bool]) -> str:
    values = list(flags)
    return f"{sum(values) / len(values):.3f}"


if __name__ == "__main__":
    sys.exit(main())
