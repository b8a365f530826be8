"""Custom JSON Schema formats for Chinese identity numbers and phones (filled in with the forms)."""

from __future__ import annotations

from jsonschema import FormatChecker


def register(checker: FormatChecker) -> None:
    """Add Yekuo's formats to a jsonschema FormatChecker."""
