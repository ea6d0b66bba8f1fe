from pathlib import Path

from llmlabel.io.taskfile import load_examples
from llmlabel.select import Example, ExampleSelector
from llmlabel.task import load

POOL = [
    Example(id=f"e{i}", data={"text": str(i)}, answer={"label": label}, label=label)
    for i, label in enumerate(["a", "a", "a", "b", "b", "c"])
]


def test_fixed_takes_the_first_k() -> None:
    assert [e.id for e in ExampleSelector(POOL, 3).for_record()] == ["e0", "e1", "e2"]


def test_random_is_seeded_and_the_same_for_every_record() -> None:
    first = ExampleSelector(POOL, 3, "random", seed=1).for_record("x")
    again = ExampleSelector(POOL, 3, "random", seed=1).for_record("y")
    other = ExampleSelector(POOL, 3, "random", seed=2).for_record("x")
    assert first == again
    assert [e.id for e in first] != [e.id for e in other] or first != other


def test_label_balanced_rotates_over_labels_in_task_order() -> None:
    chosen = ExampleSelector(POOL, 3, "label_balanced", labels=["c", "b", "a"]).for_record()
    assert [e.label for e in chosen] == ["c", "b", "a"]


def test_a_record_never_gets_itself_as_an_example() -> None:
    chosen = ExampleSelector(POOL, 3).for_record("e1")
    assert [e.id for e in chosen] == ["e0", "e2", "e3"]


def test_a_duplicate_of_the_record_under_another_id_is_not_its_example() -> None:
    """Every strategy: the same text under another id is the record itself (its label would
    leak, e.g. a transductive pool made from the records being labeled)."""
    for strategy in ("fixed", "random", "label_balanced"):
        chosen = ExampleSelector(POOL, 3, strategy).for_record("copy", {"text": "0"})
        assert "e0" not in [e.id for e in chosen] and len(chosen) == 3, strategy
    kept = ExampleSelector(POOL, 3).for_record("other", {"text": "zz"})
    assert [e.id for e in kept] == ["e0", "e1", "e2"]


def test_k_larger_than_the_pool_takes_the_pool() -> None:
    assert len(ExampleSelector(POOL, 50).for_record()) == len(POOL)


def test_ner_examples_are_balanced_under_their_first_entity_type() -> None:
    task = Path(__file__).resolve().parent.parent / "examples" / "ner" / "task.yaml"
    pool = load_examples(load(task).spec, task.parent)
    by_id = {e.id: e.label for e in pool}
    assert by_id["ex1"] == "PER" and by_id["ex2"] == "MISC" and by_id["ex3"] == ""
    assert {e.label for e in pool} <= {"PER", "ORG", "LOC", "MISC", ""}
