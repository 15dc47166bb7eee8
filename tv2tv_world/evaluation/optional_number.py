"""One figure of a report table or a log line, where a measure may be missing."""

from __future__ import annotations


def optional_number(value: float | None) -> str:
    """Three decimals, or '-' where there is no figure (an AUC of a set without one of its classes, say)."""
    return "-" if value is None else f"{value:.3f}"
