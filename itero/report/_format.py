"""Numbers with units, escaped for HTML.

>>> energy(7.2e6), co2(1234.0), duration(5400.0), size(3_500_000), number(0.000123456)
('2 kWh', '1.23 kg', '1.5 h', '3.5 MB', '0.0001235')
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

from itero.tracking._datasets import number_ranges


def esc(value: Any) -> str:
    """Any user-provided value as HTML text (quotes too, so that it is also safe in attributes)."""
    return html.escape(str(value), quote=True)


def number(value: Any, digits: int = 4) -> str:
    """Ints with thousands separators, floats with ``digits`` significant digits; anything else as text."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-4):
            return f"{value:.{digits - 1}e}"
        return f"{value:.{digits}g}"
    return str(value)


def _unit(value: float, units: list[tuple[float, str]], digits: int = 3) -> str:
    """``value`` in the first unit it reaches at least 1 of (the last unit otherwise)."""
    scale, unit = units[-1]
    for scale_, unit_ in units:
        if abs(value) >= scale_:
            scale, unit = scale_, unit_
            break
    return f"{value / scale:.{digits}g} {unit}"


def energy(joules: float) -> str:
    """``7.2e6`` -> ``"2 kWh"``; small amounts in Wh or J."""
    if joules == 0:
        return "0 kWh"
    return _unit(joules, [(3.6e6, "kWh"), (3.6e3, "Wh"), (1.0, "J"), (1e-3, "mJ")])


def kwh(joules: float) -> str:
    """The same amount in kWh, always (for readers who add kWh up)."""
    return f"{joules / 3.6e6:.3g} kWh"


def co2(grams: float) -> str:
    """``1234.0`` -> ``"1.23 kg"`` (CO₂-equivalent)."""
    if grams == 0:
        return "0 kg"
    return _unit(grams, [(1e6, "t"), (1e3, "kg"), (1.0, "g"), (1e-3, "mg")])


def duration(seconds: float) -> str:
    """``5400`` -> ``"1.5 h"``; under a minute in seconds, under an hour in minutes, beyond two days in days."""
    if seconds < 60:
        return f"{seconds:.3g} s"
    if seconds < 3600:
        return f"{seconds / 60:.3g} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} days"


def size(n: float) -> str:
    """Bytes in B, kB, MB, GB (powers of 1000)."""
    for scale, unit in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} B"


ranges = number_ranges  # trial numbers as "0-2, 5, 7-8"


def shorten(text: str, width: int = 120) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")
