"""EndpointPool: round-robin over replicas of one model."""

from __future__ import annotations

import asyncio

import pytest

from llmlabel.backends.pool import EndpointPool, openai_pool
from llmlabel.core.request import LabelRequest, Message
from llmlabel.core.settings import BackendSpec
from llmlabel.errors import ConfigError
from tests.fakes import FakeBackend


def _request(round_: int) -> LabelRequest:
    return LabelRequest(
        messages=(Message(role="user", content="hi"),),
        json_schema={"type": "object"},
        schema_name="A",
        n=1,
        temperature=0.0,
        seed=round_,
        max_tokens=8,
        round=round_,
    )


def test_requests_go_round_robin_from_the_start_offset() -> None:
    replicas = [FakeBackend(lambda r, i: "{}", model_id="m") for _ in range(3)]
    pool = EndpointPool(replicas, start=4)  # 4 % 3: the second replica first

    async def go() -> None:
        for r in range(7):
            await pool.complete(_request(r))

    asyncio.run(go())
    assert [len(b.requests) for b in replicas] == [2, 3, 2]
    assert [q.round for q in replicas[1].requests] == [0, 3, 6]
    assert pool.model_id == "m" and pool.name == "pool"


def test_max_n_is_the_smallest_and_setting_it_caps_every_replica() -> None:
    replicas = [FakeBackend(lambda r, i: "{}", max_n=n) for n in (8, 3)]
    pool = EndpointPool(replicas)
    assert pool.max_n == 3
    replicas[0].max_n = 2  # a replica learned its server's cap
    assert pool.max_n == 2
    pool.max_n = 1
    assert [b.max_n for b in replicas] == [1, 1]


def test_closing_closes_every_replica() -> None:
    replicas = [FakeBackend(lambda r, i: "{}") for _ in range(2)]
    asyncio.run(EndpointPool(replicas).aclose())
    assert all(b.closed for b in replicas)


def test_openai_pool_builds_one_client_per_url_with_the_task_model() -> None:
    spec = BackendSpec(model="qwen", max_n=4)
    pool = openai_pool(spec, ["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1/"])
    assert [b.model_id for b in pool.backends] == ["qwen", "qwen"]
    assert pool.max_n == 4
    with pytest.raises(ConfigError):
        EndpointPool([])
    asyncio.run(pool.aclose())
