from llmlabel.core.metrics import Outcome
from llmlabel.core.wrong_records import wrong_records


def test_the_most_frequent_confusion_comes_first_its_confident_mistakes_first() -> None:
    outcomes = [
        Outcome("a", "cat", "dog", 0.55),
        Outcome("b", "cat", "dog", 0.95),
        Outcome("c", "dog", "cat", 0.99),
        Outcome("d", "cat", "cat", 0.99),  # right: not listed
        Outcome("e", "cat", None, 0.0, status="failed"),
    ]
    wrong = wrong_records(outcomes, {"b": "the text of b"}, limit=3)
    assert [w.id for w in wrong] == ["b", "a", "c"]  # cat→dog twice, then the single ones
    assert wrong[0].text == "the text of b" and wrong[1].text == ""
    assert wrong_records(outcomes, {})[-1].predicted is None
