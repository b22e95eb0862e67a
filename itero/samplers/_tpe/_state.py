"""TPE's model state of one history: per-trial status and losses, and each parameter's values in the unit cube,
indexed by trial number and updated incrementally as trials change."""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import operator
from typing import Any

import numpy as np

from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

# Trial status codes.
IGNORED = -1  # failed, or never seen
COMPLETE = 0  # complete with a finite value for every objective
PRUNED = 1  # pruned, paused, or complete without valid values: ranked after every complete trial
RUNNING = 2  # running or waiting: counted in the above group when the constant liar is on

_PRUNED_STATES = (TrialState.PRUNED, TrialState.PAUSED)
_RUNNING_STATES = (TrialState.RUNNING, TrialState.WAITING)


class Values:
    """The raw values of one parameter name, indexed by trial number (NaN where absent or not a number)."""

    __slots__ = ("isint", "logx", "present", "x")

    def __init__(self, capacity: int) -> None:
        self.x = np.full(capacity, np.nan)
        self.logx = np.full(capacity, np.nan)
        self.isint = np.zeros(capacity, dtype=bool)
        self.present = np.zeros(capacity, dtype=bool)

    def grow(self, extra: int) -> None:
        self.x = np.concatenate([self.x, np.full(extra, np.nan)])
        self.logx = np.concatenate([self.logx, np.full(extra, np.nan)])
        self.isint = np.concatenate([self.isint, np.zeros(extra, dtype=bool)])
        self.present = np.concatenate([self.present, np.zeros(extra, dtype=bool)])

    def set(self, slot: int, value: Any) -> None:
        self.present[slot] = True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.x[slot] = self.logx[slot] = np.nan
            self.isint[slot] = False
            return
        x = float(value)
        self.x[slot] = x
        self.logx[slot] = math.log(x) if x > 0 else np.nan
        self.isint[slot] = isinstance(value, int)

    def clear(self, slot: int) -> None:
        self.x[slot] = self.logx[slot] = np.nan
        self.isint[slot] = self.present[slot] = False


def numeric_unit(
    dist: FloatDistribution | IntDistribution, x: np.ndarray, logx: np.ndarray, isint: np.ndarray
) -> np.ndarray:
    """Vectorised ``dist.to_unit`` where ``dist.contains`` the value, NaN elsewhere. Only comparisons, +, -
    and * act on the arrays, so one element or many give bit-identical results."""
    ok = (x >= dist.low) & (x <= dist.high)
    if isinstance(dist, IntDistribution):
        ok &= isint
        if dist.step != 1:
            ok &= np.fmod(x - dist.low, dist.step) == 0
    elif dist.step is not None:
        k = (x - dist.low) / dist.step
        ok &= np.abs(k - np.rint(k)) < 1e-6
    g_lo, scale, u_lo = _encoding(dist)
    g = logx if dist.log else x
    u = np.full(len(x), u_lo) if scale is None else np.clip((g - g_lo) * scale + u_lo, 0.0, 1.0)
    return np.where(ok, u, np.nan)


def _encoding(dist: FloatDistribution | IntDistribution) -> tuple[float, float | None, float]:
    """``(g_lo, scale, u_lo)``: the unit value of ``g`` (the value, or its log for log ranges) is
    ``(g - g_lo) * scale + u_lo``; ``scale`` is None for a single-valued range."""
    if dist.log:
        g_lo, g_hi = math.log(dist.low), math.log(dist.high)
    else:
        g_lo, g_hi = float(dist.low), float(dist.high)
    u_lo = dist.to_unit(dist.low)
    if g_hi == g_lo:
        return g_lo, None, u_lo
    return g_lo, (dist.to_unit(dist.high) - u_lo) / (g_hi - g_lo), u_lo


def numeric_unit_one(
    dist: FloatDistribution | IntDistribution,
    x: float,
    logx: float,
    isint: bool,
    encoding: tuple[float, float | None, float],
) -> float:
    """``numeric_unit`` of one value, with the same float operations in the same order (so the same bits):
    ``encoding`` is ``_encoding(dist)``."""
    if not (x >= dist.low and x <= dist.high):
        return math.nan
    if isinstance(dist, IntDistribution):
        if not isint or (dist.step != 1 and math.fmod(x - dist.low, dist.step) != 0):
            return math.nan
    elif dist.step is not None:
        k = (x - dist.low) / dist.step
        if not abs(k - round(k)) < 1e-6:
            return math.nan
    g_lo, scale, u_lo = encoding
    if scale is None:
        return u_lo
    u = ((logx if dist.log else x) - g_lo) * scale + u_lo
    if u < 0.0:  # as np.clip, which keeps NaN and -0.0
        return 0.0
    return 1.0 if u > 1.0 else u


class Column:
    """One parameter for one distribution, in the unit cube and indexed by trial number; NaN where a trial
    lacks the parameter or its value is not in the distribution. Categories are stored as their index."""

    __slots__ = ("categorical", "dist", "encoding", "n_choices", "name", "u")

    def __init__(self, name: str, dist: Distribution, u: np.ndarray) -> None:
        self.name = name
        self.dist = dist
        self.categorical = isinstance(dist, CategoricalDistribution)
        self.n_choices = len(dist.choices) if isinstance(dist, CategoricalDistribution) else 0
        self.encoding = None if isinstance(dist, CategoricalDistribution) else _encoding(dist)
        self.u = u

    def set(self, slot: int, value: Any, values: Values) -> None:
        d = self.dist
        if isinstance(d, CategoricalDistribution):
            self.u[slot] = float(d.index(value)) if d.contains(value) else np.nan
        else:
            assert self.encoding is not None
            x, logx, isint = float(values.x[slot]), float(values.logx[slot]), bool(values.isint[slot])
            self.u[slot] = numeric_unit_one(d, x, logx, isint, self.encoding)


def _changed(cur: list[FrozenTrial], prev: list[FrozenTrial]) -> list[FrozenTrial]:
    """The trials of ``cur`` that are not the same objects as in ``prev`` (the previous version of the list),
    and the new ones. Changes are usually among the latest trials, so the longest prefix of equal trials is
    found first with list comparisons (C speed; identical objects are equal without a call), doubling the
    unchecked tail; a trial replaced by an equal copy may count as unchanged, which changes nothing."""
    m = len(prev)
    start = 0
    k = 1
    try:
        while k < m:
            if cur[: m - k] == prev[: m - k]:
                start = m - k
                break
            k *= 2
    except Exception:  # a trial's __eq__ failed (an attribute that does not compare): check them all
        start = 0
    tail, old = cur[start:m], prev[start:m]
    changed = list(itertools.compress(tail, map(operator.is_not, tail, old)))
    changed.extend(cur[m:])
    return changed


MAX_COLUMNS = 64  # (name, distribution) columns kept per history, least recently used dropped first


class State:
    """What TPE keeps of one history: per-trial status and losses, and parameter values, indexed by number.

    ``refresh`` finds the trials that changed since the last version by identity (unchanged trials are the
    same objects) and updates only their entries.
    """

    def __init__(self, history: History) -> None:
        self.n_obj = len(history.objective_names)
        self.first_sign = -1.0 if history.directions[history.objective_names[0]] == "maximize" else 1.0
        self.first_metric = history.objective_names[0]
        self.version = -1
        self.seen: list[FrozenTrial] = []
        self.capacity = 0
        self.size = 0
        self.objs: list[FrozenTrial | None] = []
        self.status = np.empty(0, dtype=np.int8)
        self.loss = np.empty(0)  # first objective of complete trials (or last reported value of pruned ones)
        self.step = np.empty(0)  # highest step of pruned trials
        self.mo = np.empty((0, self.n_obj))
        self.viol = np.empty(0)  # total constraint violation of complete trials (0 when feasible)
        self.n_finished = 0
        self.values: dict[str, Values] = {}
        self.columns: dict[tuple[str, Distribution], Column] = {}
        self.by_name: dict[str, list[Column]] = {}
        self.isect: dict[str, Distribution] | None = None
        self.isect_dirty = False
        self.splits: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray]] = {}

    # --- updates
    def _grow(self, slot: int) -> None:
        new = max(2 * self.capacity, slot + 1, 64)
        extra = new - self.capacity
        self.status = np.concatenate([self.status, np.full(extra, IGNORED, dtype=np.int8)])
        self.loss = np.concatenate([self.loss, np.full(extra, np.inf)])
        self.step = np.concatenate([self.step, np.zeros(extra)])
        self.mo = np.concatenate([self.mo, np.full((extra, self.n_obj), np.inf)])
        self.viol = np.concatenate([self.viol, np.zeros(extra)])
        self.objs.extend([None] * extra)
        for values in self.values.values():
            values.grow(extra)
        for col in self.columns.values():
            col.u = np.concatenate([col.u, np.full(extra, np.nan)])
        self.capacity = new

    def refresh(self, history: History) -> None:
        if history.version == self.version:
            return
        cur = history.trials
        prev = self.seen
        if len(cur) < len(prev):  # histories only grow; if not, look at every trial again
            prev = []
        changed = _changed(cur, prev)
        limit = max(1 << 20, 16 * len(cur))
        objs = self.objs
        for t in changed:
            number = t.number
            if not 0 <= number < limit:  # numbers are dense per study; ignore anything else
                continue
            if number < self.capacity and objs[number] is t:
                continue
            self._update(history, t)
        self.seen = list(cur)  # a copy: the history updates its list in place
        self.version = history.version
        self.splits.clear()

    def _update(self, history: History, t: FrozenTrial) -> None:
        slot = t.number
        if slot >= self.capacity:
            self._grow(slot)
        self.size = max(self.size, slot + 1)
        old = int(self.status[slot])
        state = t.state
        if state == TrialState.COMPLETE and history.is_valid(t):
            new = COMPLETE
            self.loss[slot] = history.loss(t)
            self.mo[slot] = history.losses(t)
            self.viol[slot] = t.violation if t.system_attrs else 0.0
        elif state == TrialState.COMPLETE or state in _PRUNED_STATES:
            new = PRUNED
            if state == TrialState.COMPLETE:  # complete without valid values: after every pruned trial
                step, value = -1.0, None
            else:
                step, value = self._last_report(t)
            self.step[slot] = step
            finite = value is not None and math.isfinite(value)
            self.loss[slot] = self.first_sign * value if value is not None and finite else math.inf
            self.mo[slot] = np.inf
            self.viol[slot] = 0.0
        else:
            new = RUNNING if state in _RUNNING_STATES else IGNORED
            self.loss[slot] = np.inf
            self.step[slot] = 0.0
            self.mo[slot] = np.inf
            self.viol[slot] = 0.0
        self.status[slot] = new
        self.n_finished += (new in (COMPLETE, PRUNED)) - (old in (COMPLETE, PRUNED))
        prev = self.objs[slot]
        if old == COMPLETE and (new != COMPLETE or prev is None or prev.distributions != t.distributions):
            self.isect_dirty = True
        if new == COMPLETE and not self.isect_dirty:
            self._intersect(t)
        if prev is not None:
            for name in prev.params.keys() - t.params.keys():  # (parameters are not normally taken back)
                self.values[name].clear(slot)
                for col in self.by_name.get(name, ()):
                    col.u[slot] = np.nan
        self.objs[slot] = t
        for name, value in t.params.items():
            values = self.values.get(name)
            if values is None:
                values = self.values[name] = Values(self.capacity)
            values.set(slot, value)
            for col in self.by_name.get(name, ()):
                col.set(slot, value, values)

    def _last_report(self, t: FrozenTrial) -> tuple[float, float | None]:
        step = float(t.step)
        value = t.metrics.get(self.first_metric)
        if t.reports:
            last = max(t.reports)
            step = max(step, float(last))
            if value is None:
                value = t.reports[last].get(self.first_metric)
        try:
            return step, None if value is None else float(value)
        except (TypeError, ValueError):
            return step, None

    def _intersect(self, t: FrozenTrial) -> None:
        if self.isect is None:
            self.isect = dict(t.distributions)
        elif self.isect:
            dists = t.distributions
            self.isect = {k: d for k, d in self.isect.items() if dists.get(k) == d}

    # --- reads
    def intersection(self) -> dict[str, Distribution]:
        """Same as ``intersection_space(history)``, kept incrementally."""
        if self.isect_dirty:
            self.isect = None
            self.isect_dirty = False
            for slot in np.flatnonzero(self.status[: self.size] == COMPLETE):
                t = self.objs[int(slot)]
                if t is not None:
                    self._intersect(t)
        return {k: d for k, d in (self.isect or {}).items() if not d.is_single()}

    def with_losses(self, slots: np.ndarray, losses: np.ndarray) -> State:
        """A single-objective copy sharing the parameter columns: the complete trials at ``slots`` have
        ``losses``, every other trial an infinite loss (so pruned trials rank by step only)."""
        view = copy.copy(self)
        view.n_obj = 1
        view.first_sign = 1.0
        view.splits = {}
        view.loss = np.full(len(self.loss), np.inf)
        if len(slots):
            view.loss[slots] = losses
        return view

    def column(self, name: str, dist: Distribution) -> Column:
        """The column of ``name`` for ``dist``: built once (vectorised for numbers), then kept up to date."""
        key = (name, dist)
        col = self.columns.pop(key, None)
        if col is None:
            col = self._build(name, dist)
            self.by_name.setdefault(name, []).append(col)
            if len(self.columns) >= MAX_COLUMNS:
                old = self.columns.pop(next(iter(self.columns)))
                self.by_name[old.name].remove(old)
        self.columns[key] = col  # most recently used last
        return col

    def _build(self, name: str, dist: Distribution) -> Column:
        values = self.values.get(name)
        u = np.full(self.capacity, np.nan)
        if values is not None:
            if isinstance(dist, CategoricalDistribution):
                memo: dict[tuple[type, Any], float] = {}
                objs = self.objs
                for slot in np.flatnonzero(values.present).tolist():
                    t = objs[slot]
                    if t is None or name not in t.params:
                        continue
                    v = t.params[name]
                    try:
                        index = memo[type(v), v]
                    except (KeyError, TypeError):
                        index = float(dist.index(v)) if dist.contains(v) else np.nan
                        with contextlib.suppress(TypeError):
                            memo[type(v), v] = index
                    u[slot] = index
                return Column(name, dist, u)
            u[:] = numeric_unit(dist, values.x, values.logx, values.isint)
        return Column(name, dist, u)
