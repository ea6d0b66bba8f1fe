"""Few-shot example selection."""

from llmlabel.select.strategies import Example, ExampleSelector, make_selector

__all__ = ["Example", "ExampleSelector", "make_selector"]
