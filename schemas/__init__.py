"""Label schemas for the built-in and example tasks (pydantic models)."""
