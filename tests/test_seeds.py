"""Every sample of a record has its own seed, however its requests are split.

Servers seed choice ``i`` of a request ``seed + i`` (llama.cpp, vLLM; the fake backend does the
same), so two requests whose seeds differ by less than their ``n`` would replay each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmlabel import api
from llmlabel.core.request import LabelRequest
from llmlabel.core.spec import parse_task
from tests.fakes import FakeBackend, choice_seed, is_reask


def _run(tmp: Path, backend: FakeBackend, **task: Any) -> list[dict[str, Any]]:
    source = tmp / "in.jsonl"
    source.write_text(json.dumps({"id": "1", "text": "x"}) + "\n")
    out = tmp / "out.jsonl"
    spec = parse_task({"name": "t", "labels": ["a", "b", "c"], **task})
    api.label(spec, source, out, backend=backend, cache=False, overwrite=True)
    return [json.loads(line) for line in out.read_text().splitlines()]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    samples=st.integers(1, 12),
    max_n=st.integers(1, 5),
    adaptive=st.booleans(),
    invalid_every=st.integers(0, 3),
    reask=st.integers(0, 2),
)
def test_all_seeds_of_a_record_are_distinct(
    tmp_path_factory: Any, samples: int, max_n: int, adaptive: bool, invalid_every: int, reask: int
) -> None:
    def script(request: LabelRequest, i: int) -> str:
        seed = choice_seed(request, i) or 0
        if invalid_every and not is_reask(request) and seed % (invalid_every + 1) == 0:
            return "not json"
        return json.dumps({"label": "abc"[seed % 3]})

    backend = FakeBackend(script, max_n=max_n)
    extra: dict[str, Any] = {"adaptive": {"min": 2, "batch": 2}} if adaptive else {}
    _run(
        tmp_path_factory.mktemp("s"),
        backend,
        samples=samples,
        retries={"reask": reask},
        **extra,
    )
    assert len(backend.seeds) == len(set(backend.seeds))
    drawn = [s for r in backend.requests if not is_reask(r) for s in _seeds(r)]
    assert len(drawn) <= samples


def _seeds(request: LabelRequest) -> list[int | None]:
    return [choice_seed(request, i) for i in range(request.n)]


def test_samples_beyond_max_n_are_not_replays(tmp_path: Path) -> None:
    """The README task's shape (5 samples, 4 slots): a seed-driven answer shows 5 seeds."""
    backend = FakeBackend(lambda r, i: json.dumps({"label": "abc"[(choice_seed(r, i) or 0) % 3]}))
    (row,) = _run(tmp_path, backend, samples=5, seed=7)
    assert sorted(s for s in backend.seeds if s is not None) == [7, 8, 9, 10, 11]
    assert row["votes"] == {"a": 1, "b": 2, "c": 2}
