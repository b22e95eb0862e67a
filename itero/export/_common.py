"""What both exporters need: numbers from metric values, and equality that treats NaN as equal to NaN."""

from __future__ import annotations

import math
from typing import Any


def as_number(value: Any) -> float | None:
    """``float(value)``, or None when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def same(a: float, b: float) -> bool:
    """Equal, counting NaN equal to NaN (a value already exported is not written again)."""
    return a == b or (math.isnan(a) and math.isnan(b))
