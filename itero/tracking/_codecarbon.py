"""CodeCarbon's reference data, read from the installed ``codecarbon`` package without importing it.

itero does not invent power or carbon constants: CPU thermal design powers come from CodeCarbon's
``data/hardware/cpu_power.csv`` and carbon intensities from its offline ``global_energy_mix.json`` (per country,
ISO 3166-1 alpha-3, g CO2eq/kWh) and ``carbon_intensity_per_source.json`` (world average). Importing
``codecarbon`` itself would start pandas and its tracker, so only the files are read.

    >>> intensity("FRA").grams_per_kwh < intensity("world").grams_per_kwh
    True
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path

from itero.exceptions import ConfigError

# CodeCarbon's fallback when a CPU model is not in its table: 4 W per hardware thread
# (codecarbon.core.cpu.DEFAULT_POWER_PER_CORE). Reading it would import codecarbon's tracker, so it is repeated.
DEFAULT_WATTS_PER_THREAD = 4.0


@functools.lru_cache(maxsize=1)
def data_dir() -> Path:
    """The ``data`` folder of the installed codecarbon package."""
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("energy and carbon figures need CodeCarbon's data: pip install codecarbon")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("codecarbon")
    except Exception:  # pragma: no cover - metadata missing in odd installs
        return "unknown"


@functools.lru_cache(maxsize=1)
def cpu_power_table() -> dict[str, float]:
    """CodeCarbon's CPU model -> TDP (W) table, keyed by the lower-cased model name."""
    table: dict[str, float] = {}
    with open(data_dir() / "hardware" / "cpu_power.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                table[row["Name"].strip().lower()] = float(row["TDP"])
            except (TypeError, ValueError, KeyError):  # a few rows carry malformed TDPs ("27.29.5"): skip them
                continue
    return table


def _clean_model(model: str) -> str:
    """Strip what CPU model strings carry beyond the name (as CodeCarbon does before matching)."""
    model = model.replace("(R)", "").replace("(TM)", "").replace("(tm)", "")
    cut = model.find(" CPU @ ")
    if cut > 0:
        model = model[:cut]
    model = re.sub(r"\s*@\s*\d+(\.\d+)?\s*GHz", "", model).replace(" CPU", "")
    model = re.sub(r"\b\d+-Core Processor\b", "", model)
    return " ".join(model.split()).lower()


def match_cpu(model: str) -> tuple[str, float] | None:
    """``(table name, TDP W)`` of the table row naming ``model``, or None when no single row does.

    An exact name wins; otherwise the one row whose words are all in the model string (or the model's words
    all in the row's), as CodeCarbon's token-set match does. Ambiguous matches return None.
    """
    table = cpu_power_table()
    cleaned = _clean_model(model)
    for key in (model.strip().lower(), cleaned):
        if key in table:
            return key, table[key]
    words = set(cleaned.split())
    if not words:
        return None
    hits = [name for name in table if (set(name.split()) <= words) or (words <= set(name.split()))]
    # Prefer the longest row contained in the model string (e.g. "xeon gold 6248" over "xeon gold").
    inside = [name for name in hits if set(name.split()) <= words]
    if inside:
        longest = max(len(n.split()) for n in inside)
        best = [n for n in inside if len(n.split()) == longest]
        if len(best) == 1:
            return best[0], table[best[0]]
    if len(hits) == 1:
        return hits[0], table[hits[0]]
    return None


@dataclass(frozen=True)
class Intensity:
    """Carbon intensity of electricity in one region and where the figure comes from."""

    region: str
    grams_per_kwh: float
    source: str


@functools.lru_cache(maxsize=1)
def _energy_mix() -> dict[str, dict[str, object]]:
    with open(data_dir() / "private_infra" / "global_energy_mix.json", encoding="utf-8") as f:
        return dict(json.load(f))


@functools.lru_cache(maxsize=1)
def _world_average() -> float:
    with open(data_dir() / "private_infra" / "carbon_intensity_per_source.json", encoding="utf-8") as f:
        return float(json.load(f)["world_average"])


def _alpha3(code: str) -> str | None:
    mix = _energy_mix()
    up = code.upper()
    if up in mix:
        return up
    if len(up) == 2:
        try:
            import pycountry  # a dependency of codecarbon

            country = pycountry.countries.get(alpha_2=up)
        except Exception:
            country = None
        if country is not None and country.alpha_3 in mix:
            return str(country.alpha_3)
    return None


@functools.lru_cache(maxsize=64)
def intensity(region: str = "world") -> Intensity:
    """Grams of CO2eq per kWh for an ISO 3166 country code (alpha-3 such as ``"FRA"``, or alpha-2), or
    ``"world"`` (the default: CodeCarbon's world average). Unknown codes raise ConfigError."""
    if not isinstance(region, str) or not region.strip():
        raise ConfigError(f"region must be an ISO 3166 country code such as 'FRA' or 'world', got {region!r}")
    if region.strip().lower() == "world":
        return Intensity("world", _world_average(), f"codecarbon {_version()} world average")
    code = _alpha3(region.strip())
    if code is None:
        known = ", ".join(sorted(_energy_mix())[:12])
        raise ConfigError(
            f"region {region!r} is not a country code in CodeCarbon's energy-mix data "
            f"(ISO 3166 alpha-3 such as {known}, …; or 'world')"
        )
    row = _energy_mix()[code]
    year = row.get("year", "?")
    return Intensity(code, float(row["carbon_intensity"]), f"codecarbon {_version()} energy mix of {code} ({year})")  # type: ignore[arg-type]
