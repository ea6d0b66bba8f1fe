"""``llmlabel tune``: search a task's prompt settings on a dev split of a small gold set, then
score the winner once on the held-out rest.

The gold records are split once (seeded) into ``dev`` and ``held-out``. The search is
coordinate ascent over steps, each a few options tried on top of the incumbent settings:

- ``describe``: the model writes a line for each bare label (``describe_labels: true``);
- ``instructions``: two rewrites of the instructions, proposed by the model from the task and
  the incumbent's wrong dev records (their text, gold and predicted labels);
- ``examples``: few-shot examples from the dev records themselves (``label_balanced`` k=4 and
  ``semantic`` k=8; a record is never its own example, by id or identical text);
- ``bias``: a label prior divided out (``bias_correction: content_free`` or ``pool``).

An option replaces the incumbent only when it is the step's best on dev, is more accurate
there, and McNemar's exact test on the paired dev outcomes gives p < ``alpha``: every accepted
step is backed by a paired test against the incumbent. The held-out records are labeled only
after the search, twice (the task as given and as tuned), and that score is the one reported.
The result is a task file (the original with the accepted keys; the dev examples written
beside it when the examples step won) and a Markdown report of every step.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlabel.backends import make_backend
from llmlabel.backends.base import Backend, cache_identity
from llmlabel.core import comparison
from llmlabel.core.comparison import Scored
from llmlabel.core.evaluation import Options
from llmlabel.core.kinds import KINDS
from llmlabel.core.request import Completion, LabelRequest
from llmlabel.errors import ConfigError, LLMLabelError
from llmlabel.io.cache import NullCache, RequestCache
from llmlabel.io.gold import read_gold
from llmlabel.io.paths import check_apart
from llmlabel.io.readers import InputRecord
from llmlabel.io.sink import ListSink
from llmlabel.io.tunefile import write_task
from llmlabel.runs.committee import make_runner
from llmlabel.runs.describe import instruction_request, parse_instructions
from llmlabel.runs.labeling import open_cache
from llmlabel.task import PreparedTask, load

TUNED = tuple(name for name, kind in KINDS.items() if kind.example is not None)
"""Kinds whose gold rows serve as few-shot examples (``Kind.example``)."""
STEPS = ("describe", "instructions", "examples", "bias")
SHOWN_ERRORS = 8
"""Wrong dev records shown to the model when it proposes instructions."""
Split = tuple[list[dict[str, Any]], list[Any]]
"""Records (the task's fields and id only) and their gold values, in the same order."""


@dataclass(frozen=True)
class Trial:
    """One option of a step, scored on dev against the incumbent of that step."""

    step: str
    option: dict[str, Any]
    accuracy: float
    incumbent: float
    better: int
    """Dev records right under the option and wrong under the incumbent."""
    worse: int
    p_value: float
    accepted: bool

    @property
    def shown(self) -> dict[str, Any]:
        """The option as reports show it (the examples file is always the dev records)."""
        hidden = ("examples.path", "examples.items")
        return {k: v for k, v in self.option.items() if k not in hidden}


@dataclass(frozen=True)
class TuneResult:
    output: Path
    report: Path
    overrides: dict[str, Any]
    """The accepted keys (dotted), as written on top of the task file (with the fixed ones)."""
    trials: list[Trial]
    dev: int
    held_out: int
    pair: comparison.PairResult
    """Held-out: the task as given (A) against the tuned task (B)."""


def tune(
    task: str | Path,
    gold: str | Path,
    output: str | Path,
    *,
    input: str | Path | None = None,
    dev_share: float = 0.5,
    limit: int | None = None,
    seed: int = 0,
    alpha: float = 0.05,
    steps: Sequence[str] = STEPS,
    overrides: Mapping[str, Any] | None = None,
    cache: str | Path | bool = True,
    on_step: Callable[[str], None] | None = None,
) -> TuneResult:
    """Tune ``task`` on a seeded ``dev_share`` of ``gold`` (``limit``: of a seeded sample of
    that many) and write the tuned task file to ``output``, its report beside it
    (``<output stem>.tune.md``). ``on_step(name)`` is called as each step starts, and with
    ``"held-out"`` before the held-out split is labeled. ``overrides`` (dotted keys, e.g.
    ``{"backend.model": ...}``) hold for the whole search and are written to the tuned file."""
    task_path, output = Path(task), Path(output)
    report, pool = output.with_suffix(".tune.md"), output.with_suffix(".examples.jsonl")
    if not 0.0 < dev_share < 1.0:
        raise ConfigError(f"--dev-share must lie strictly between 0 and 1, not {dev_share}")
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"unknown step '{unknown[0]}'", hint=f"steps: {', '.join(STEPS)}")
    check_apart(
        {"--output": output, "the report": report, "the examples": pool},
        {"TASK": task_path, "--gold": gold, "--input": input},
    )
    fixed = dict(overrides or {})
    base = load(task_path, fixed)
    if base.kind.example is None:
        raise ConfigError(
            f"tune handles {' and '.join(TUNED)} tasks, not {base.spec.kind}",
            hint="compare variants of other kinds with `llmlabel compare`",
        )
    dev, held = split(task_path, base, gold, input, dev_share, limit, seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    _write_jsonl(pool, [_example(base, r, g) for r, g in zip(*dev, strict=True)])
    search = _Search(task_path, base, fixed, Options(seed=seed), alpha, pool)
    try:
        accepted, pair = asyncio.run(search.run(cache, steps, dev, held, on_step))
    except BaseException:
        pool.unlink(missing_ok=True)
        raise
    if "examples.path" not in accepted:  # the examples step did not win: no examples file
        pool.unlink(missing_ok=True)
    header = f"Tuned by `llmlabel tune` from {task_path} on {gold}; the search: {report.name}"
    write_task(task_path, output, {**fixed, **accepted}, header)
    result = TuneResult(output, report, accepted, search.trials, len(dev[0]), len(held[0]), pair)
    report.write_text(render(result, task_path, gold, alpha, seed), encoding="utf-8")
    return result


def split(
    task_path: Path,
    base: PreparedTask,
    gold: str | Path,
    input: str | Path | None,
    dev_share: float,
    limit: int | None,
    seed: int,
) -> tuple[Split, Split]:
    """The dev and held-out splits of the gold records (each in gold order)."""
    spec = base.spec
    _, labels, records = read_gold(gold, input, spec.id_field, spec.fields, spec.kind)
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    order = order[:limit] if limit is not None else order
    cut = round(len(order) * dev_share)
    dev, held = sorted(order[:cut]), sorted(order[cut:])
    if len(dev) < 10 or len(held) < 10:
        raise ConfigError(
            f"{len(order)} gold records give a dev split of {len(dev)} and a held-out split of "
            f"{len(held)}: each needs at least 10",
            where=str(gold),
            hint="tune on more gold records (a hundred or more makes steps testable)",
        )
    return ([records[i] for i in dev], [labels[i] for i in dev]), (
        [records[i] for i in held],
        [labels[i] for i in held],
    )


class _Search:
    """The search's backend and cache (one model load for every option) and its trials."""

    def __init__(
        self,
        task_path: Path,
        base: PreparedTask,
        fixed: dict[str, Any],
        options: Options,
        alpha: float,
        pool: Path,
    ) -> None:
        self.task_path = task_path
        self.base = base
        self.fixed = fixed
        self.options = options
        self.alpha = alpha
        self.pool = pool
        self.trials: list[Trial] = []
        self._backend: Backend | None = None
        self._cache: RequestCache | NullCache | None = None

    async def run(
        self,
        cache: str | Path | bool,
        steps: Sequence[str],
        dev: Split,
        held: Split,
        on_step: Callable[[str], None] | None,
    ) -> tuple[dict[str, Any], comparison.PairResult]:
        self._backend, self._cache = make_backend(self.base.spec), open_cache(cache)
        try:
            incumbent: dict[str, Any] = {}
            scored = await self.score("incumbent", self.base, dev)
            for step in steps:
                if on_step is not None:
                    on_step(step)
                winner = await self.step(step, incumbent, scored, dev)
                if winner is not None:
                    incumbent, scored = {**incumbent, **winner[0]}, winner[1]
            if on_step is not None:
                on_step("held-out")
            given = await self.score("as given", self.base, held)
            tuned = await self.score("tuned", self.task(incumbent), held)
        finally:
            self._cache.close()
            await self._backend.aclose()
        pairs = [(given, {}, comparison.Cost()), (tuned, incumbent, comparison.Cost())]
        pair = comparison.compare(pairs, self.base.spec.kind, self.options).pairs[0]
        written = {**incumbent}
        if "examples.path" in written:
            written["examples.path"] = self.pool.name  # beside the tuned task file
        return written, pair

    async def step(
        self, step: str, incumbent: dict[str, Any], scored: Scored, dev: Split
    ) -> tuple[dict[str, Any], Scored] | None:
        """Try the step's options on dev; the winner and its scores when one is accepted."""
        tried = []
        for option in await self.options_of(step, incumbent, scored, dev):
            try:
                task = self.task({**incumbent, **option})
            except LLMLabelError:
                continue  # not an option for this task (e.g. bias correction without logprobs)
            candidate = await self.score(step, task, dev)
            tried.append((self._trial(step, option, scored, candidate), candidate))
        if not tried:
            return None
        best, best_scored = max(tried, key=lambda t: t[0].accuracy)
        for trial, _ in tried:
            accepted = trial is best and trial.accepted
            self.trials.append(trial if accepted else _not_accepted(trial))
        return (best.option, best_scored) if best.accepted else None

    async def options_of(
        self, step: str, incumbent: dict[str, Any], scored: Scored, dev: Split
    ) -> list[dict[str, Any]]:
        task = self.task(incumbent)
        spec = task.spec
        if step == "describe":
            bare = any(not label.description for label in spec.labels)
            return [{"describe_labels": True}] if bare and not spec.describe_labels else []
        if step == "instructions":
            return await self.proposals(spec.model_dump(by_alias=True), scored, dev)
        if step == "examples":
            pool = str(self.pool.resolve())
            return [
                {"examples.path": pool, "examples.items": [], "examples.k": 4,
                 "examples.strategy": "label_balanced"},
                {"examples.path": pool, "examples.items": [], "examples.k": 8,
                 "examples.strategy": "semantic"},
            ]  # fmt: skip
        if task.kind.scores_labels and spec.bias_correction == "none":
            return [{"bias_correction": "content_free"}, {"bias_correction": "pool"}]
        return []

    async def proposals(
        self, spec: dict[str, Any], scored: Scored, dev: Split
    ) -> list[dict[str, Any]]:
        """Two instruction rewrites the model proposes from the incumbent's dev errors."""
        assert self._backend is not None and self._cache is not None
        texts = {str(r[self.base.spec.id_field]): _text(r, self.base.spec.fields) for r in dev[0]}
        wrong = [o for o in scored.outcomes if not o.correct][:SHOWN_ERRORS]
        found = []
        for i in range(2):
            request = instruction_request(spec, [(texts[o.id], o.gold, o.predicted) for o in wrong])
            request = request.model_copy(update={"seed": self.base.spec.seed + i})
            completion = await self._complete(request)
            written = parse_instructions(completion.samples[0].text)
            if (
                written
                and written != spec.get("instructions")
                and {"instructions": written} not in found
            ):
                found.append({"instructions": written})
        return found

    async def _complete(self, request: LabelRequest) -> Completion:
        """A request outside the runner (an instruction proposal), cached as the runner does."""
        assert self._backend is not None and self._cache is not None
        key = request.cache_key(cache_identity(self._backend))
        completion = self._cache.get(key)
        if completion is None:
            completion = await self._backend.complete(request)
            self._cache.put(key, completion)
        return completion

    def task(self, overrides: Mapping[str, Any]) -> PreparedTask:
        """The task file under the fixed keys and ``overrides``."""
        return load(self.task_path, {**self.fixed, **overrides})

    async def score(self, name: str, task: PreparedTask, split: Split) -> Scored:
        """Label ``split`` with ``task`` and score it against its gold."""
        assert self._backend is not None and self._cache is not None
        id_field = task.spec.id_field
        records, gold = split
        inputs = [InputRecord(str(r[id_field]), r, f"record {r[id_field]}") for r in records]
        sink = ListSink()
        await make_runner(task, self._backend, self._cache, sink, on_error="skip").run(inputs)
        pairs = [(str(r[id_field]), g) for r, g in zip(records, gold, strict=True)]
        return comparison.score(name, sink.rows, pairs, task.spec.kind, self.options)

    def _trial(self, step: str, option: dict[str, Any], a: Scored, b: Scored) -> Trial:
        pair = comparison.compare(
            [(a, {}, comparison.Cost()), (b, option, comparison.Cost())],
            self.base.spec.kind,
            self.options,
        ).pairs[0]
        before, after = a.summary.accuracy.value, b.summary.accuracy.value
        return Trial(
            step=step,
            option=option,
            accuracy=after,
            incumbent=before,
            better=pair.mcnemar.b_only,
            worse=pair.mcnemar.a_only,
            p_value=pair.mcnemar.p_value,
            accepted=after > before and pair.mcnemar.p_value < self.alpha,
        )


def render(result: TuneResult, task: Path, gold: str | Path, alpha: float, seed: int) -> str:
    """The search as Markdown: every trial on dev, then the held-out score."""
    pair = result.pair
    accuracy = pair.delta("accuracy")
    lines = [
        f"# Tuning {task.name}",
        "",
        f"Gold: `{gold}`, split (seed {seed}) into {result.dev} dev and {result.held_out} "
        f"held-out records. An option is accepted when it is its step's best on dev and "
        f"McNemar's exact test against the incumbent gives p < {alpha}.",
        "",
        "## Held-out (labeled once, after the search)",
        "",
        "| task | accuracy |",
        "|---|---|",
        f"| as given | {accuracy.a:.3f} |",
        f"| tuned | {accuracy.b:.3f} |",
        "",
        f"Δ accuracy {accuracy.delta:+.3f} (paired bootstrap 95% CI {accuracy.low:+.3f} to "
        f"{accuracy.high:+.3f}); McNemar: {pair.mcnemar.b_only} better, {pair.mcnemar.a_only} "
        f"worse, p = {pair.mcnemar.p_value:.3g}.",
        "",
        "## Search on dev",
        "",
        "| step | option | dev accuracy | incumbent | better / worse | McNemar p | accepted |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in result.trials:
        option = json.dumps(t.shown, ensure_ascii=False).replace("|", "\\|")
        lines.append(
            f"| {t.step} | `{option}` | {t.accuracy:.3f} | {t.incumbent:.3f} "
            f"| {t.better} / {t.worse} | {t.p_value:.3g} | {'yes' if t.accepted else 'no'} |"
        )
    written = json.dumps(result.overrides, ensure_ascii=False, indent=2)
    lines += ["", "## Written", "", f"`{result.output}` with:", "", "```json", written, "```", ""]
    return "\n".join(lines)


def _not_accepted(trial: Trial) -> Trial:
    return Trial(**{**trial.__dict__, "accepted": False})


def _example(task: PreparedTask, record: dict[str, Any], gold: Any) -> dict[str, Any]:
    """A gold record as a few-shot example (the kind's label field)."""
    assert task.kind.example is not None
    return {**record, task.kind.field: task.kind.example(gold)}


def _text(record: Mapping[str, Any], fields: Sequence[str]) -> str:
    return " | ".join(str(record.get(f, "")) for f in fields)


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
