"""Few-shot example selection."""

from llmlabel.select.strategies import Example, ExampleSelector

__all__ = ["Example", "ExampleSelector"]
