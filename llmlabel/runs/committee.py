"""Committee runs: several prompts/models and labeling functions vote on each record.

The vote and disagreement rules are pure, one ``CommitteeRules`` per kind
(``llmlabel.core.committee``, ``llmlabel.core.committee_sets``). Here each model member becomes
a prepared task with its own backend (members with equal backend settings share one, so a model
loads once); an ordinary ``Runner`` draws each member's samples, the labeling functions vote
beside them, and the kind's rules merge the votes into one row with a ``committee`` object.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmlabel.backends import make_backend
from llmlabel.backends.base import Backend
from llmlabel.core.committee import Ballot, CommitteeRules, LabelingFunction, keyword_pattern
from llmlabel.core.request import Usage
from llmlabel.core.row import Row
from llmlabel.core.settings import CommitteeMemberSpec, LabelingFunctionSpec
from llmlabel.core.spec import TaskSpec
from llmlabel.errors import ConfigError, InputError
from llmlabel.io.readers import InputRecord, peek
from llmlabel.runs.distribution import Drawn
from llmlabel.runs.local import Cache, OnError, Runner, Sink, first_wanted
from llmlabel.runs.stats import RunStats, row_usage
from llmlabel.task import PreparedTask, load

LONE_MEMBER = "model"
"""The member name of a task with labeling functions and no ``committee:`` list."""
_ALONE: dict[str, Any] = {"committee": [], "labeling_functions": [], "calibration": None}
"""What a member's task drops: it votes alone, and the committee's row is what is calibrated."""


def make_runner(
    task: PreparedTask,
    backend: Backend,
    cache: Cache,
    sink: Sink,
    *,
    on_row: Callable[[RunStats], None] | None = None,
    on_error: OnError = "fail",
    first: Sequence[InputRecord] | None = None,
) -> Runner:
    """The runner a task needs: a ``CommitteeRunner`` when it declares a committee or
    labeling functions, else a plain ``Runner`` (``first``: the input's first records, for a
    run given in batches). A ``bootstrap:`` task is a series of runs
    (``llmlabel.runs.bootstrap``), which only ``llmlabel run`` / ``llmlabel.label`` make."""
    if task.spec.bootstrap is not None:
        raise ConfigError(
            f"task '{task.spec.name}' has `bootstrap:`, which runs as a series of labeling "
            "passes over a file",
            hint="use `llmlabel run` (or llmlabel.label) with the local runner, or remove "
            "`bootstrap:` (overrides: {'bootstrap': False})",
        )
    if task.spec.committee or task.spec.labeling_functions:
        return CommitteeRunner(task, backend, cache, sink, on_row=on_row, on_error=on_error)
    return Runner(task, backend, cache, sink, on_row=on_row, on_error=on_error, first=first)


def first_records(task: PreparedTask, records: Iterable[InputRecord]) -> list[InputRecord]:
    """The first readable ``records`` where the task reads them (``describe_labels``,
    ``bias_correction: pool``; else none), for a run given in batches (Ray, ``Labeler``
    calls), so every batch writes the same label lines and divides by the same prior."""
    wanted = first_wanted(task)
    return peek(records, wanted, task.spec.fields)[0] if wanted else []


@dataclass(frozen=True)
class _ModelMember:
    name: str
    weight: float
    runner: Runner


@dataclass(frozen=True)
class _Rule:
    """``partial``: a keyword or regex rule, which names one label (see ``Ballot``)."""

    name: str
    weight: float
    vote: LabelingFunction
    partial: bool


class CommitteeRunner(Runner):
    """A ``Runner`` whose rows merge the votes of every member (see the module docstring)."""

    def __init__(
        self,
        task: PreparedTask,
        backend: Backend,
        cache: Cache,
        sink: Sink,
        on_row: Callable[[RunStats], None] | None = None,
        on_error: OnError = "fail",
    ):
        super().__init__(task, backend, cache, sink, on_row=on_row, on_error=on_error)
        spec = task.spec
        assert task.kind.committee is not None  # the spec refuses committees on other kinds
        self.voting: CommitteeRules = task.kind.committee
        self.rules = [
            _rule(lf, spec, task.functions, self.voting) for lf in spec.labeling_functions
        ]
        self._owned: list[Backend] = []
        backends = {spec.backend: backend}
        declared = spec.committee or [CommitteeMemberSpec(name=LONE_MEMBER)]
        self.members: list[_ModelMember] = []
        for i, declared_member in enumerate(declared):
            member_spec = member_task(spec, declared_member)
            same = member_spec == spec.model_copy(update=_ALONE)  # same prompt: reuse it
            prepared = task if same else load(member_spec, base_dir=task.base_dir)
            live = backends.get(member_spec.backend)
            if live is None:
                live = backends[member_spec.backend] = make_backend(member_spec)
                self._owned.append(live)
            runner = Runner(prepared, live, cache, sink, on_error=on_error)
            runner.stats = self.stats  # requests, cache hits and re-asks count in this run
            name = declared_member.name or f"member-{i + 1}"
            self.members.append(_ModelMember(name, declared_member.weight, runner))
        self._provenance["committee"] = {
            "members": [_member_provenance(m) for m in self.members],
            "labeling_functions": [_rule_provenance(lf) for lf in spec.labeling_functions],
        }

    async def run(self, records: Iterable[InputRecord]) -> RunStats:
        try:
            return await super().run(records)
        finally:
            for backend in self._owned:
                await backend.aclose()

    async def label(self, record: InputRecord) -> Row:
        fired = [(rule, self._apply(rule, record)) for rule in self.rules]  # cheap: fail early
        draws = await asyncio.gather(*(m.runner.draw(record) for m in self.members))
        rows = [d for d in draws if isinstance(d, Row)]
        skipped = next((row for row in rows if row.status == "skipped"), None)
        if skipped is not None:  # too long for a member: the record is skipped, as without one
            return Row.model_validate({**skipped.dump(), "provenance": self._provenance})
        usage = sum((d.usage if isinstance(d, Drawn) else row_usage(d) for d in draws), Usage())
        example_ids = draws[0].examples
        ballots: list[Ballot] = []
        failed: dict[str, str] = {}
        reasons: list[str] = []
        for member, drawn in zip(self.members, draws, strict=True):
            if isinstance(drawn, Row):  # its requests failed
                failed[member.name] = str(drawn.error)
                continue
            ballots.append(Ballot(member.name, tuple(drawn.values), member.weight))
            reasons += [f"{member.name}: {why}" for why in drawn.reasons]
        if not ballots:
            errors = "; ".join(f"{name}: {error}" for name, error in failed.items())
            return Row.model_validate(self._row(record, example_ids, usage, error=errors))
        ballots += [
            Ballot(r.name, (value,), r.weight, r.partial) for r, value in fired if value is not None
        ]
        merged = self.voting.merge(ballots, self.task.labels, reasons)
        found = merged.found
        row = self._voted_row(record, example_ids, usage, merged.vote, reasons)
        row["committee"] = {
            "votes": merged.votes,
            "samples": {b.name: len(b.values) for b in ballots},
            "invalid": {b.name: b.invalid for b in ballots},
            "weights": {b.name: b.weight for b in ballots},
            "abstained": [r.name for r, value in fired if value is None],
            "failed": failed,
            "entropy": round(found.entropy, 6),
            "kl": {name: round(kl, 6) for name, kl in found.kl.items()},
            "disagreement": round(found.disagreement, 6),
        }
        if self._router is not None:
            self._router.apply(row)
        return Row.model_validate(row)

    @property
    def _returns(self) -> str:
        """What a Python labeling function may return, for hints."""
        return self.voting.returns(self.task.labels)

    def _apply(self, rule: _Rule, record: InputRecord) -> Any:
        """The rule's vote value on the record (``None``: it abstains); a rule that breaks or
        answers something the kind cannot take is bad input that names the rule and the
        record."""
        where = f"labeling function '{rule.name}' on record '{record.id}'"
        try:
            answer = rule.vote(record.data)
        except KeyError as exc:
            raise InputError(
                f"{where}: the record has no field {exc}",
                where=record.where,
                hint="a rule's `fields:` must be columns of every record",
            ) from None
        except (Exception, SystemExit) as exc:  # a user's function can fail in any way
            raise InputError(
                f"{where} failed: {type(exc).__name__}: {exc}",
                where=record.where,
                hint=f"fix the function; it returns {self._returns}, or None to abstain",
            ) from None
        if answer is None:
            return None
        try:
            return self.voting.answer(answer, self.task.labels, record.data)
        except ValueError as exc:
            raise InputError(
                f"{where} returned {answer!r}: {exc}",
                where=record.where,
                hint=f"return {self._returns}, or None to abstain",
            ) from None


def member_task(spec: TaskSpec, member: CommitteeMemberSpec) -> TaskSpec:
    """The task one member runs: the committee's task with the member's settings."""
    update: dict[str, Any] = dict(_ALONE)
    if member.template is not None:
        update["template"] = member.template
    if member.backend is not None:
        update["backend"] = spec.backend.model_copy(
            update=member.backend.model_dump(exclude_unset=True)
        )
    if member.samples is not None:
        update["samples"] = member.samples
    if member.temperature is not None:
        update["temperature"] = member.temperature
    return spec.model_copy(update=update)


def _rule(
    lf: LabelingFunctionSpec,
    spec: TaskSpec,
    functions: Mapping[str, LabelingFunction],
    voting: CommitteeRules,
) -> _Rule:
    if lf.python is not None:
        return _Rule(lf.name, lf.weight, functions[lf.name], partial=False)
    assert lf.label is not None  # the spec requires a label for keyword and regex rules
    pattern = re.compile(lf.regex) if lf.regex is not None else keyword_pattern(lf.keywords)
    rule = voting.pattern(lf.label, pattern, lf.fields or spec.fields)
    return _Rule(lf.name, lf.weight, rule, partial=True)


def _member_provenance(member: _ModelMember) -> dict[str, Any]:
    task = member.runner.task
    return {
        "name": member.name,
        "template": task.renderer.name,
        "template_hash": task.renderer.hash,
        "backend": task.spec.backend.type,
        "model": task.spec.backend.model,
        "model_id": member.runner.backend.model_id,
        "samples": task.spec.samples,
        "temperature": task.spec.effective_temperature,
        "weight": member.weight,
    }


def _rule_provenance(lf: LabelingFunctionSpec) -> dict[str, Any]:
    rule = "python" if lf.python else "regex" if lf.regex else "keywords"
    return {
        "name": lf.name,
        "rule": rule,
        "label": lf.label,
        "weight": lf.weight,
        **({"python": lf.python} if lf.python else {}),
    }
