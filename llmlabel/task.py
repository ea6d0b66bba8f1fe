"""A task ready to run: spec + compiled template + label schema + few-shot examples."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from llmlabel.core.kinds import KINDS, Kind
from llmlabel.core.render import PromptRenderer
from llmlabel.core.request import LabelRequest, Message
from llmlabel.core.schema import example_answer, json_schema, labels_of
from llmlabel.core.spec import TaskSpec, parse_task
from llmlabel.errors import ConfigError, InputError, SchemaError
from llmlabel.io.calibfile import LoadedCalibration, read_calibration
from llmlabel.io.images import image_urls, with_images
from llmlabel.io.taskfile import (
    load_examples,
    load_function,
    load_schema,
    load_template,
    read_task_file,
)
from llmlabel.models import cache_dir
from llmlabel.select import Example, ExampleSelector, make_selector
from llmlabel.select.semantic import text_of
from llmlabel.select.shortlist import Shortlister, build_shortlister

DEFAULT_SHOTS = 8
TOP_LOGPROBS = 20
"""Alternatives per token asked for when labels are scored (the most OpenAI allows)."""
VIEWS_KEPT = 1024
"""Narrowed views (``PreparedTask.narrowed``) kept per task; the least recently used go."""


@dataclass(frozen=True)
class PreparedTask:
    spec: TaskSpec
    kind: Kind
    renderer: PromptRenderer
    answer_model: type[BaseModel]
    labels: list[str]
    schema: dict[str, Any]
    selector: ExampleSelector
    answers: dict[str, str]
    answer_format: str
    calibration: LoadedCalibration | None = None
    """The task's ``calibration:`` file, read and validated."""
    base_dir: Path = Path()
    """The task file's folder: where its relative paths (templates, rules) are resolved."""
    functions: Mapping[str, Callable[[Mapping[str, Any]], Any]] = field(default_factory=dict)
    """The task's Python labeling functions by name, loaded (see ``llmlabel.runs.committee``)."""
    shortlister: Shortlister | None = None
    """``shortlist:``: ranks the labels for each record (``shortlists``); None in a view."""
    shuffle: str = ""
    """A ``vary_prompts`` variant's seed for the order of each record's few-shot examples."""
    _views: dict[tuple[str, ...], PreparedTask] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def shortlists(self, records: Sequence[tuple[str, Mapping[str, Any]]]) -> list[list[str]]:
        """Each (id, fields) record's shortlist, in task order: its ``shortlist.k`` labels
        most similar to its text (one embedding call for the batch), plus the labels of the
        few-shot examples it is shown (with ``semantic``/``mmr``, its nearest pool examples), so
        no example answers with a label the record may not. Without ``shortlist:``, every label."""
        if self.shortlister is None:
            return [list(self.labels) for _ in records]
        tops = self.shortlister.top([text_of(data, self.spec.fields) for _, data in records])
        found = []
        for (record_id, data), top in zip(records, tops, strict=True):
            chosen = set(top)
            for example in self.selector.for_record(record_id, data):
                chosen.update(_answer_labels(example.answer, self.kind.field))
            found.append([label for label in self.labels if label in chosen])
        return found

    def narrowed(self, labels: Sequence[str]) -> PreparedTask:
        """This task asking only among ``labels`` (a subset, put in task order): the prompt's
        ``labels`` and answer format, the answer model and its JSON schema, and so the vote and
        the label probabilities. The same task when ``labels`` holds every label. Views are
        cached per subset (``VIEWS_KEPT`` at most)."""
        wanted = set(labels)
        chosen = tuple(label for label in self.labels if label in wanted)
        if len(chosen) == len(self.labels):
            return self
        view = self._views.pop(chosen, None)
        if view is None:
            view = self._view(list(chosen))
            if len(self._views) >= VIEWS_KEPT:
                del self._views[next(iter(self._views))]
        self._views[chosen] = view  # most recently used last
        return view

    def variant(self, index: int) -> PreparedTask:
        """Sample ``index``'s prompt under ``vary_prompts``: one sample of this task with the
        labels (in the prompt and the answer schema) and each record's few-shot examples in an
        order seeded by the task's seed and ``index``. Variant 0 is the task as written."""
        key = (f"\0variant {index}",)  # built once per task, kept with the narrowed views
        if key not in self._views:
            spec = self.spec.model_copy(update={"samples": 1, "vary_prompts": False})
            seed = f"{self.spec.seed}:{index}"
            order = list(self.labels)
            random.Random(seed).shuffle(order)
            view = self._view(order) if index else self
            self._views[key] = replace(view, spec=spec, shuffle=seed if index else "")
        return self._views[key]

    def _view(self, labels: list[str]) -> PreparedTask:
        if not labels or self.kind.model is None:
            raise ValueError("a narrowed task needs labels and an answer model built from them")
        answer_model = self.kind.model(labels)
        schema = json_schema(answer_model)
        answer_format = self.kind.answer_format(labels, answer_model)
        descriptions = {label.name: label.description for label in self.spec.labels}
        renderer = self.renderer.with_context(
            labels=[{"name": n, "description": descriptions.get(n)} for n in labels],
            answer_format=answer_format,
            schema=json.dumps(schema, ensure_ascii=False),
        )
        return replace(
            self,
            renderer=renderer,
            answer_model=answer_model,
            labels=labels,
            schema=schema,
            answer_format=answer_format,
            shortlister=None,
        )

    def messages_for(
        self, record_id: str, data: Mapping[str, Any]
    ) -> tuple[tuple[Message, ...], list[str]]:
        """The record's chat messages and the ids of the few-shot examples shown."""
        examples = self.selector.for_record(record_id, data)
        if self.shuffle:
            random.Random(f"{self.shuffle}:{record_id}").shuffle(examples)
        shots = [(e.data, self.answers[e.id]) for e in examples]
        messages = self.renderer.render(data, shots)
        if self.spec.image_fields:  # each user turn (shots, then the record) gets its images
            fields, root = self.spec.image_fields, self.base_dir / (self.spec.image_root or "")
            images = [image_urls(e.id, e.data, fields) for e in examples]  # the task's own
            record = image_urls(record_id, data, fields, root.resolve())
            messages = with_images(messages, [*images, record])
        return messages, [e.id for e in examples]

    def request(
        self, messages: tuple[Message, ...], n: int, first: int, prefill: str = ""
    ) -> LabelRequest:
        """A request for samples ``first .. first + n - 1`` of a record. Its seed is
        ``seed + first``: servers seed the i-th choice ``seed + i`` (llama.cpp, vLLM), so every
        sample of a record gets its own seed however the samples are split into requests.
        ``prefill``: a probe of the label distribution (one token, its alternatives)."""
        spec = self.spec
        sampler = spec.sampler
        scored = self.scores_labels or self.walks_lists
        tokens = scored or self.scores_items  # items need each sampled token's logprob
        return LabelRequest(
            messages=messages,
            json_schema=self.schema,
            schema_name=self.answer_model.__name__,
            n=n,
            temperature=spec.effective_temperature,
            seed=spec.seed + first,
            max_tokens=1 if prefill else spec.max_tokens,
            logprobs=spec.logprobs or tokens,
            top_logprobs=TOP_LOGPROBS if scored else 1 if tokens else 0,
            round=first,
            top_p=sampler.top_p,
            top_k=sampler.top_k,
            min_p=sampler.min_p,
            prefill=prefill,
        )

    @property
    def scores_labels(self) -> bool:
        """Whether rows get label probabilities from token logprobs (``confidence:``); a
        committee's rows keep the committee's vote (see ``llmlabel.runs.committee``)."""
        spec = self.spec
        voters = spec.committee or spec.labeling_functions
        return spec.confidence != "vote" and self.kind.scores_labels and not voters

    @property
    def scores_items(self) -> bool:
        """Whether the items of list answers (multi-label labels, NER spans, triples) get
        probabilities from their tokens (``confidence:``), as ``scores_labels`` for labels."""
        spec = self.spec
        voters = spec.committee or spec.labeling_functions
        return spec.confidence != "vote" and self.kind.items is not None and not voters

    @property
    def walks_lists(self) -> bool:
        """Whether list answers are chosen label by label (``label_lists: walk``): needs the
        token logprobs (``scores_items``) and one greedy answer, which the walk replaces."""
        spec = self.spec
        return (
            spec.label_lists == "walk"
            and self.kind.walks_labels
            and self.scores_items
            and spec.samples == 1
            and spec.effective_temperature == 0
        )

    def provenance(self) -> dict[str, Any]:
        spec = self.spec
        calibration = self.calibration
        return {
            "task": spec.name,
            "kind": spec.kind,
            "template": self.renderer.name,
            "template_hash": self.renderer.hash,
            "backend": spec.backend.type,
            "model": spec.backend.model,
            "samples": spec.samples,
            "temperature": spec.effective_temperature,
            "seed": spec.seed,
            "sampler": spec.sampler.model_dump(),
            "confidence": spec.confidence if self.scores_labels or self.scores_items else "vote",
            **({"bias_correction": spec.bias_correction} if self.scores_labels else {}),
            **({"label_lists": "walk"} if self.walks_lists else {}),
            "examples": {
                "strategy": spec.examples.strategy,
                "k": self.selector.k,
                "embedder": self.selector.embedder,
            },
            **({} if calibration is None else {"calibration": calibration.provenance()}),
            **({} if self.shortlister is None else {"shortlist": self._shortlist_provenance()}),
        }

    def _shortlist_provenance(self) -> dict[str, Any]:
        assert self.spec.shortlist is not None and self.shortlister is not None
        return {
            "k": self.spec.shortlist.k,
            "embedder": self.shortlister.embedder_name,
            "fallback_below": self.spec.shortlist.fallback_below,
        }


def load(
    task: str | Path | Mapping[str, Any] | TaskSpec,
    overrides: Mapping[str, Any] | None = None,
    base_dir: str | Path | None = None,
) -> PreparedTask:
    """The one way a task is loaded: a task file's path, a mapping as its YAML would be, or a
    ``TaskSpec``; with ``overrides`` (``backend.model`` style dotted keys) applied before the
    task is validated; prepared with its templates, schema, examples and rules read relative
    to ``base_dir`` (default: the task file's folder, else the current directory).

    One pass down the layers: ``io.taskfile`` reads the file, ``core.spec`` validates it, then
    ``prepare`` reads what it names and puts the pieces together."""
    data: Any
    if isinstance(task, TaskSpec):
        data, source, file, folder = task, task.name, None, Path.cwd()
    elif isinstance(task, Mapping):
        data, source, file, folder = dict(task), "the task dict", None, Path.cwd()
    else:
        (data, folder), source = read_task_file(task), str(task)
        file = source
    spec = parse_task(data, source, overrides, overridden=file)
    return prepare(spec, Path(base_dir) if base_dir is not None else folder)


def for_input(prepared: PreparedTask, input: str | Path) -> PreparedTask:
    """``prepared`` reading record images only from the folder of ``input`` (a file, or a
    dataset folder) unless the task or the command line set ``image_root``."""
    if prepared.spec.image_root is not None or not prepared.spec.image_fields:
        return prepared
    path = Path(input).resolve()
    if str(input).startswith("hf:") or not path.exists():
        return prepared
    root = str(path if path.is_dir() else path.parent)
    return replace(prepared, spec=prepared.spec.model_copy(update={"image_root": root}))


def prepare(spec: TaskSpec, base_dir: Path) -> PreparedTask:
    """The last step of ``load``: a validated task made ready to run (callers use ``load``)."""
    kind = KINDS[spec.kind]
    missing = [name for name in kind.reads if name not in spec.fields]
    if missing:
        raise ConfigError(
            f"a {kind.name} task reads the record field(s) {', '.join(missing)}, "
            "which `fields:` does not list",
            hint=f"list them first: fields: [{', '.join([*kind.reads, *spec.fields])}]",
        )
    answer_model, labels = _answer_model(spec, kind, base_dir)
    descriptions = {label.name: label.description for label in spec.labels}
    template_name, source = load_template(spec.template_name, base_dir)
    schema = json_schema(answer_model)
    answer_format = kind.answer_format(labels, answer_model)
    context = {
        "task": {
            "name": spec.name,
            "description": spec.description,
            "instructions": spec.instructions,
        },
        "labels": [{"name": n, "description": descriptions.get(n)} for n in labels],
        "fields": spec.fields,
        "answer_format": answer_format,
        "schema": json.dumps(schema, ensure_ascii=False),
    }
    renderer = PromptRenderer(template_name, source, context)
    pool = load_examples(spec, base_dir)
    answers = {e.id: _checked_answer(answer_model, e) for e in pool}
    for example in pool:
        renderer.user(example.data, f"few-shot example {example.id} ({example.where})")
    k = spec.examples.k if spec.examples.k is not None else min(len(pool), DEFAULT_SHOTS)
    selector = make_selector(spec.examples, pool, k, labels, spec.fields)
    calibration = None
    if spec.calibration is not None:
        calibration = read_calibration(base_dir / spec.calibration)
        if calibration.file.kind != spec.kind:
            raise ConfigError(
                f"calibration {spec.calibration} was fitted on {calibration.file.kind} "
                f"predictions, not {spec.kind}",
                hint="calibrate on predictions of this task",
            )
    shortlister = None
    if spec.shortlist is not None:
        shortlister = build_shortlister(
            [(n, descriptions.get(n)) for n in labels],
            spec.shortlist.k,
            spec.shortlist.embedder,
            cache_dir() / "embeddings",
        )
    return PreparedTask(
        spec,
        kind,
        renderer,
        answer_model,
        labels,
        schema,
        selector,
        answers,
        answer_format,
        calibration,
        base_dir,
        {
            lf.name: load_function(lf.python, base_dir)
            for lf in spec.labeling_functions
            if lf.python
        },
        shortlister,
    )


def _answer_model(spec: TaskSpec, kind: Kind, base_dir: Path) -> tuple[type[BaseModel], list[str]]:
    if spec.label_schema is None:
        if kind.model is None:  # the spec requires `schema:` for such kinds
            raise ConfigError(f"a {kind.name} task needs a `schema:`", where=spec.name)
        return kind.model(spec.label_names), spec.label_names
    model = load_schema(spec.label_schema, base_dir)
    if not kind.needs_labels:
        answer = model.model_fields.get(kind.field)
        if kind.field and (answer is None or answer.annotation is not str):
            raise SchemaError(
                f"schema {model.__name__} has no '{kind.field}: str' field",
                where=spec.label_schema,
                hint=f"a {kind.name} answer is `{kind.field}: str`",
            )
        return model, []
    labels = labels_of(model, kind.field)
    unknown = sorted(set(spec.label_names) - set(labels))
    if unknown:
        raise ConfigError(
            f"labels {', '.join(unknown)} are not in schema {spec.label_schema}",
            hint=f"the schema allows: {', '.join(labels)}",
        )
    return model, labels


def _checked_answer(model: type[BaseModel], example: Example) -> str:
    try:
        return example_answer(model, example.answer)
    except ValidationError as exc:
        problem = "; ".join(e["msg"] for e in exc.errors(include_url=False))
        raise InputError(
            f"few-shot example {example.id} has an invalid answer {example.answer}: {problem}",
            where=example.where,
            hint="example labels must be among the task's labels",
        ) from None


def _answer_labels(answer: Mapping[str, Any], field_name: str) -> list[str]:
    """The strings of an example's answer field, one level into its items: its ``label``,
    its ``labels``, or its entities' and triples' values (the caller keeps the labels)."""
    value = answer.get(field_name)
    found: list[str] = []
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            found += [v for v in item.values() if isinstance(v, str)]
    return found
