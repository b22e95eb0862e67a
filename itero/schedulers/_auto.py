"""``auto``: early stopping that learns from the study's own learning curves; nothing to tune.

Every trial starts fresh and is stopped in place (by default it never pauses, so it needs no checkpoints and
works with objectives that give no ``state``). At each decision step ``s`` (1, 3, 9, 27, ... below ``max_steps``, or
below the furthest step a completed trial reached when the scheduler has no ``max_steps``) a trial:

1. stops when its value is not finite (diverged);
2. stops when, by the study's curves (``itero.curves``: a line from values at ``s`` to final values, with
   conformal prediction intervals from its leave-one-out errors), the probability that it ends better than the
   k-th best of the n completed trials is below ``p_stop`` (5%), k = ceil(p_stop (n + 1)) — the best one until
   20 have completed. A new trial has about a k / (n + 1) chance to end there, so the rule stops only trials
   with worse prospects than a new one: against the best alone, once 20 trials had completed, every trial with
   average prospects fell below 5% and stopped (on one replay seed, 1,518 in a row at step 1, none completing
   again). Before five trials have completed, the same at the latest decision step with enough curves, against
   the value the best completed trial had there (the best value there while none has completed);
3. stops when it is outside the best third of the trials that reached ``s`` — only while ranks at ``s`` predict
   ranks at the end (Spearman's correlation ≥ 0.5 once 5 trials reached both, as ASHA's ``rank_check``; before
   that, ranks at the latest step 5 trials reached), so that on curves that cross the slow starters are not cut.

Rule 2 becomes stricter as the incumbent improves, and only ever acts with evidence from the study itself; rule 3
screens cheaply before there is any. With several objectives, rule 2 is skipped and rule 3 ranks by non-dominated
rank then crowding distance.

``freeze_thaw=True`` (one objective, an objective that gives ``state``) pauses where rule 3 would stop, and at a
decision step pauses a trial whose expected improvement on the best completed trial per step still to train (by
the curve model) is below that of the best paused trial or of a new trial (the mean over the study's trials as
seen at the first decision step); a free worker resumes the paused trial worth most when it is worth more than
a new one. On the replay tables it decided as the default did on four of five and cost more on diverge-mlp
(median 15.5 simulated seconds to the 90th percentile against 12.5, same 10 seeds), so it is off by default.

``learn_from="prediction"`` (one objective) shows the sampler each stopped or paused trial as complete at the
final value the curve model predicts from its furthest decision step, instead of ranking it by how far it got
then by its value there (``"step"``, the default, as Optuna's TPE ranks pruned trials). On the replay tables
with TPE the two gave the same compute to the 90th percentile on all five single-objective tables (8 seeds,
within 0.01 simulated seconds), so the simpler rule is the default.

    >>> Auto(max_steps=30).decision_steps()
    [1, 3, 9, 27]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable

import numpy as np

from itero._ranking import rank_order
from itero._validation import check_bool, check_choice, check_float
from itero.curves import Fit, expected_improvements, fit, log_scale
from itero.schedulers._base import BaseScheduler, Decision, Suggestion
from itero.schedulers._halving import MIN_CORRELATION, MIN_PAIRS, rank_agreement
from itero.schedulers._rungs import crossed_at, highest_rung, loss_vector, report_at, rung_steps, rung_table
from itero.trial import FrozenTrial, History, TrialState

KEEP = 3  # rule 3 keeps the best ceil(n / KEEP) of a decision step
LEARN_FROM = ("step", "prediction")


class Auto(BaseScheduler):
    """Stop trials that cannot catch up, judged by the study's own curves (see the module docstring).

    ``max_steps``: the step at which a trial is complete; ``p_stop``: rule 2's threshold; ``freeze_thaw``:
    pause instead of stopping, and resume by expected improvement; ``learn_from``: what the sampler learns from
    a stopped trial (see the module docstring).
    """

    name = "auto"

    def __init__(
        self, max_steps: int | None = None, p_stop: float = 0.05, freeze_thaw: bool = False, learn_from: str = "step"
    ) -> None:
        super().__init__(max_steps)
        check_float("auto", "p_stop", p_stop, 0.0, 1.0)
        check_bool("auto", "freeze_thaw", freeze_thaw)
        check_choice("auto", "learn_from", learn_from, LEARN_FROM)
        self.p_stop = p_stop
        self.freeze_thaw = freeze_thaw
        self.learn_from = learn_from
        self._cache: tuple[History | None, int, dict[tuple[str, int, int], object]] = (None, -1, {})
        self._rows: tuple[History | None, int, dict[int, tuple[int, int, np.ndarray]]] = (None, 0, {})

    def decision_steps(self, final: int | None = None) -> list[int]:
        """The steps at which trials are judged: powers of 3 below the final step."""
        return rung_steps(1, KEEP, final or self.max_steps)

    def final_step(self, history: History) -> int | None:
        """``max_steps``, else the furthest step a completed trial reached (an objective that sets its own
        ``trial.steps(max_steps=...)``), else None."""
        if self.max_steps is not None:
            return self.max_steps
        found = self._memo(history, ("final", 0, 0), lambda: max((t.step for t in history.completed()), default=None))
        assert found is None or isinstance(found, int)
        return found

    def decide(self, history: History, trial: FrozenTrial, step: int, *, can_pause: bool = True) -> Decision:
        final = self.final_step(history)
        steps = self.decision_steps(final)
        k = crossed_at(trial, step, steps)
        if k is None:
            return Decision.CONTINUE
        at = steps[k]
        mine = loss_vector(history, report_at(trial, at))
        if not all(map(math.isfinite, mine)):
            return Decision.STOP
        if final is None or at >= final:
            return Decision.CONTINUE
        single = not history.is_multi_objective
        thaw = self.freeze_thaw and can_pause and single
        if single:
            p = self._prob_catches_up(history, final, trial, at, mine[0])
            if p is not None and p < self.p_stop:
                return Decision.STOP
        if self._curves(history, final).rank_agreement(at, final) >= MIN_CORRELATION and not self._in_top(
            history, trial, at
        ):
            return Decision.PAUSE if thaw else Decision.STOP
        if thaw:
            worth = self._worth(history, final, at, mine[0])
            better = self._best_other(history, final, exclude=trial.id)
            if worth is not None and better is not None and better[0] > worth:
                return Decision.PAUSE
        return Decision.CONTINUE

    def next(self, history: History) -> Suggestion:
        """Thaw the paused trial whose expected improvement per remaining step is highest, when it beats a new
        trial's (see ``_best_other``); else start a new one."""
        if not self.freeze_thaw or history.is_multi_objective:
            return Suggestion.start()
        final = self.final_step(history)
        if final is None:
            return Suggestion.start()
        better = self._best_other(history, final)
        return Suggestion.start() if better is None or better[1] is None else Suggestion.resume(better[1])

    def _worth(self, history: History, final: int, step: int, loss: float) -> float | None:
        """Expected improvement on the best completed trial at ``final``, per step still to train, of a trial
        whose first-objective loss at decision step ``step`` is ``loss`` (None without a curve fit or an
        incumbent)."""
        table = self._curves(history, final)
        best = table.leader(final, exclude=-1)
        model = self._memo(history, ("fit", step, final), functools.partial(table.fit, step, final))
        if best is None or not isinstance(model, Fit):
            return None
        gain = model.predict(float(table.scale(np.array([loss]))[0])).expected_improvement(best)
        return gain / (final - step)

    def _best_other(self, history: History, final: int, exclude: int = -1) -> tuple[float, int | None] | None:
        """The best use of a free worker other than trial ``exclude``: (worth, paused trial id), or (worth,
        None) for a new trial, whose worth is the mean expected improvement of the study's trials as seen at
        the first decision step, over a full training. None before there is an incumbent and a fit."""
        got = self._memo(history, ("thaw", final, 0), functools.partial(self._thaw_table, history, final))
        assert isinstance(got, tuple)
        new, paused = got
        for worth, trial_id in paused:
            if trial_id != exclude:
                return (worth, trial_id) if new is None or worth > new else (new, None)
        return None if new is None else (new, None)

    def _thaw_table(self, history: History, final: int) -> tuple[float | None, list[tuple[float, int]]]:
        """The worth of a new trial and of each paused one (best first), once per version of the history."""
        table, steps = self._curves(history, final), self.decision_steps(final)
        first = steps[0]
        best = table.leader(final, exclude=-1)
        model = table.fit(first, final)
        new = None
        if best is not None and model is not None:
            early = table.values[:, table.steps.index(first)]
            early = np.minimum(early[np.isfinite(early)], model.x_max)
            gaps = best - (model.intercept + model.slope * early)
            new = float(expected_improvements(gaps, np.asarray(model.errors)).mean()) / final if len(gaps) else None
        paused = []
        for t in history.with_state(TrialState.PAUSED):
            k = highest_rung(t, steps)
            if k is None:
                continue
            worth = self._worth(history, final, steps[k], loss_vector(history, report_at(t, steps[k]))[0])
            if worth is not None:
                paused.append((worth, t.id))
        return new, sorted(paused, reverse=True)

    def prob_catches_up(self, history: History, trial: FrozenTrial, step: int, value: float) -> float | None:
        """P(a trial whose first-objective loss at ``step`` is ``value`` is, at a later step, below the bar of
        rule 2 there: at the final step the k-th best final loss of the other trials, earlier the value the best
        completed trial had there), for the latest step (the final one first, then later decision steps) with a
        curve fit from ``step``; None when there is none."""
        final = self.final_step(history)
        return None if final is None else self._prob_catches_up(history, final, trial, step, value)

    def _prob_catches_up(
        self, history: History, final: int, trial: FrozenTrial, step: int, value: float
    ) -> float | None:
        table = self._curves(history, final)
        for target in reversed([s for s in table.steps if s > step]):
            model = self._memo(history, ("fit", step, target), functools.partial(table.fit, step, target))
            leader = table.leader(target, exclude=trial.id, share=self.p_stop)
            if isinstance(model, Fit) and leader is not None:
                return model.predict(float(table.scale(np.array([value]))[0])).prob_below(leader)
        return None

    def _curves(self, history: History, final: int) -> _Curves:
        """The study's curves at the decision steps and ``final`` (rebuilt when the study changes; each trial's
        row is read again only when it has new reports)."""
        if self._rows[0] is not history or self._rows[1] != final:
            self._rows = (history, final, {})
        rows, steps = self._rows[2], [*self.decision_steps(final), final]
        table = self._memo(history, ("curves", final, 0), lambda: _Curves(history, steps, rows))
        assert isinstance(table, _Curves)
        return table

    def sampler_view(self, history: History) -> History:
        """With ``learn_from="prediction"`` and one objective: the history with each stopped or paused trial
        shown complete at the final value the curve model predicts from its furthest decision step, and every
        value on the model's scale (which keeps their order); else the history itself."""
        final = None if self.learn_from == "step" or history.is_multi_objective else self.final_step(history)
        if final is None:
            return history
        view = self._memo(history, ("view", final, 0), functools.partial(self._predicted, history, final))
        assert isinstance(view, History)
        return view

    def _predicted(self, history: History, final: int) -> History:
        table, steps = self._curves(history, final), self.decision_steps(final)
        name, sign = history.objective_names[0], history.directions_signs[0]
        shown = []
        for t in history.trials:
            value: float | None = None
            if t.state == TrialState.COMPLETE and history.is_valid(t):
                value = float(table.scale(np.array([history.loss(t)]))[0])
            elif t.state in (TrialState.PRUNED, TrialState.PAUSED) and (k := highest_rung(t, steps)) is not None:
                model = self._memo(history, ("fit", steps[k], final), functools.partial(table.fit, steps[k], final))
                early = loss_vector(history, report_at(t, steps[k]))[0]
                if isinstance(model, Fit) and math.isfinite(early):
                    value = model.predict(float(table.scale(np.array([early]))[0])).mean
            if value is not None and math.isfinite(value):
                t = dataclasses.replace(t, state=TrialState.COMPLETE, metrics={**t.metrics, name: sign * value})
            shown.append(t)
        view = History(history.directions, history.study_name)
        view.upsert(shown)
        return view

    def _in_top(self, history: History, trial: FrozenTrial, step: int) -> bool:
        members = [t for t in history.trials if t.id != trial.id] + [trial]
        reached, points = rung_table(history, members, step)
        quota = math.ceil(len(reached) / KEEP)
        return any(reached[i].id == trial.id for i in rank_order(points)[:quota])

    def _memo(self, history: History, key: tuple[str, int, int], compute: Callable[[], object]) -> object:
        seen, version, cache = self._cache
        if seen is not history or version != history.version:
            cache = {}
            self._cache = (history, history.version, cache)
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={v!r}"
            for k, v, default in (("freeze_thaw", self.freeze_thaw, False), ("learn_from", self.learn_from, "step"))
            if v != default
        )
        return f"Auto(max_steps={self.max_steps!r}, p_stop={self.p_stop}{extra})"


class _Curves:
    """The study's first-objective losses at the decision steps and ``max_steps``, on the curve model's scale:
    ``values[i, j]`` is trial ``ids[i]``'s at ``steps[j]`` (NaN where it did not get there)."""

    def __init__(self, history: History, steps: list[int], rows: dict[int, tuple[int, int, np.ndarray]]) -> None:
        sign, name = history.directions_signs[0], history.objective_names[0]
        self.steps = sorted(set(steps))
        self.ids = [t.id for t in history.trials]
        out = []
        for t in history.trials:
            got = rows.get(t.id)
            if got is None or got[0] != t.step or got[1] != len(t.reports):  # new reports since: read it again
                row = np.full(len(self.steps), np.nan)
                for j, s in enumerate(self.steps):
                    m = report_at(t, s)
                    v = None if m is None else m.get(name)
                    if v is not None and math.isfinite(v):
                        row[j] = sign * v
                got = rows[t.id] = (t.step, len(t.reports), row)
            out.append(got[2])
        self.raw = np.array(out).reshape(len(out), len(self.steps))
        self.scale = log_scale(self.raw.reshape(-1))
        with np.errstate(all="ignore"):
            self.values = self.scale(self.raw)

    def fit(self, early: int, late: int) -> Fit | None:
        a, b = self.steps.index(early), self.steps.index(late)
        return fit(self.values[:, a], self.values[:, b])

    def rank_agreement(self, early: int, late: int) -> float:
        """Spearman's correlation of the values at ``early`` and ``late`` (as ASHA's rank check computes it) —
        or, while fewer than ``MIN_PAIRS`` trials reached both, at ``early`` and the latest step in between that
        enough trials reached. Without that, a screen that never lets a trial complete (on curves that cross,
        the trials it keeps are the fast starters, which a later step then stops) would never see the evidence
        that turns it off."""
        a = self.raw[:, self.steps.index(early)]
        for step in reversed([s for s in self.steps if early < s <= late]):
            b = self.raw[:, self.steps.index(step)]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() >= MIN_PAIRS:
                return rank_agreement(a[ok].tolist(), b[ok].tolist())
        return 1.0

    def leader(self, step: int, exclude: int, share: float = 0.0) -> float | None:
        """The value at ``step`` to beat: at the final step the best final value; at an earlier step the value
        there of the best completed trial — not the best value any trial had there, which only grows more
        extreme as more trials are screened (the best of hundreds at step 9 is beaten by almost none, so every
        new trial would be stopped and none would complete). The best value at ``step`` while no trial that got
        there has completed. At the final step, with ``share``: the k-th best final value of n, k = ceil(share
        (n + 1)), so that a trial with a new trial's prospects is not below ``share`` (see rule 2)."""
        col = self.values[:, self.steps.index(step)]
        ok = np.isfinite(col) & (np.asarray(self.ids) != exclude)
        if not ok.any():
            return None
        if step != self.steps[-1]:
            final = self.values[:, -1]
            done = ok & np.isfinite(final)
            return float(col[done][int(np.argmin(final[done]))]) if done.any() else float(col[ok].min())
        n = int(ok.sum())
        k = min(n, max(1, math.ceil(share * (n + 1))))
        return float(np.partition(col[ok], k - 1)[k - 1])
