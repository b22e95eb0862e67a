"""``Trial`` on its own: a fake host stands in for the store, sampler, scheduler and budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from itero._clock import FakeClock
from itero.exceptions import SpaceError, TrialPruned
from itero.executors import ClockMeter, CostMeter, Trial
from itero.executors._host import Restored
from itero.space import Distribution
from itero.store import HandRequest, TrialWrite, WarmStart, Written, load_state
from itero.tracking import DatasetVersion
from itero.trial import FrozenTrial, TrialState


class FakeHost:
    """Proposes ``values``, decides by ``decisions[step]`` (default CONTINUE), grants ``steps_left`` steps."""

    def __init__(
        self,
        values: Mapping[str, Any] | None = None,
        decisions: Mapping[int, str] | None = None,
        steps_left: int = 1000,
        directions: Mapping[str, str] | None = None,
        flush_seconds: float = 0.0,
        checkpoint_at: tuple[int, ...] = (),
        restored: Restored | None = None,
    ) -> None:
        self.clock = FakeClock()
        self.directions = dict(directions or {"loss": "minimize"})
        self.max_steps: int | None = None
        self.worker_id = 1
        self.flush_seconds = flush_seconds
        self.limits_energy = False
        self.durable = False  # as an in-memory store: parameters go out with the first report
        self.values = dict(values or {})
        self.decisions = dict(decisions or {})
        self.steps_left = steps_left
        self.checkpoint_at = checkpoint_at
        self.restored = restored
        self.writes: list[TrialWrite] = []
        self.requests: dict[int, HandRequest] = {}  # read back with the n-th write (1: the first), as the store does
        self.proposed: list[str] = []
        self.datasets: list[DatasetVersion] = []

    def cost_meter(self, start_step: int, energy_before: float) -> CostMeter:
        return CostMeter(self.clock, ClockMeter(self.clock), 0.0, start_step, energy_before)

    def override(self, name: str, dist: Distribution) -> Distribution:
        return dist

    def propose(
        self, trial: FrozenTrial, name: str, dist: Distribution, joint: dict[str, Any] | None
    ) -> tuple[Any, dict[str, Any] | None]:
        self.proposed.append(name)
        return self.values[name], joint

    def is_fixed(self, name: str) -> bool:
        return False

    def decide(self, trial: FrozenTrial, step: int, can_pause: bool, last: bool) -> tuple[str, bool]:
        decision = self.decisions.get(step, "CONTINUE")
        if decision == "PAUSE" and last:
            decision = "CONTINUE"
        return decision, decision == "PAUSE" or step in self.checkpoint_at

    def grant_step(self, unflushed_j: float) -> bool:
        if self.steps_left <= 0:
            return False
        self.steps_left -= 1
        return True

    def write(self, write: TrialWrite) -> Written:
        self.writes.append(write)
        ckpt = 100 + len(self.writes) if write.checkpoint is not None or write.warm_start is not None else None
        return Written(ckpt, self.requests.get(len(self.writes)) if write.state is None else None)

    def restore(self, trial: FrozenTrial, fresh: bool, max_steps: int | None) -> Restored | None:
        return self.restored if fresh or trial.checkpoint_id is not None else None

    def record_dataset(self, version: DatasetVersion) -> None:
        self.datasets.append(version)


def _run(host: FakeHost, max_steps: int = 4, state: Any = None, result: Any = None) -> tuple[Trial, TrialState]:
    trial = Trial(host, trial_id=7, number=3)
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    for step in trial.steps(max_steps=max_steps):
        host.clock.sleep(2.0)
        trial.report(step, {"loss": lr / step}, state=state)
    return trial, trial.finish(result)


def test_parameters_are_proposed_once_and_published_before_training():
    host = FakeHost({"lr": 0.1, "width": 64})
    trial = Trial(host, 7, 3)
    assert trial.suggest_float("lr", 1e-4, 1.0, log=True) == 0.1
    assert trial.suggest_float("lr", 1e-4, 1.0, log=True) == 0.1  # asked again: the same value, not proposed
    assert trial.suggest_int("width", 16, 512) == 64
    assert host.proposed == ["lr", "width"] and host.writes == []
    next(iter(trial.steps(max_steps=2)))
    (first,) = host.writes
    assert first.params == {"lr": 0.1, "width": 64} and first.distributions is not None and first.reports == ()
    with pytest.raises(SpaceError, match="'lr'"):
        trial.suggest_float("lr", 0.5, 2.0)


def test_a_complete_run_writes_reports_cost_and_the_run():
    host = FakeHost({"lr": 0.5})
    _, state = _run(host)
    assert state == TrialState.COMPLETE
    last = host.writes[-1]
    assert last.state == "COMPLETE" and last.metrics == {"loss": 0.125} and last.step == 4
    assert [s for w in host.writes for s, _ in w.reports] == [1, 2, 3, 4]  # flush_seconds=0: every report
    assert last.run is not None and last.run.wall_seconds == 8.0 and last.run.cpu_seconds == 8.0
    assert sum(w.cost.steps for w in host.writes if w.cost) == 4
    assert sum(w.cost.wall_seconds for w in host.writes if w.cost) == 8.0


def test_reports_are_buffered_between_decision_points():
    host = FakeHost({"lr": 0.5}, flush_seconds=5.0)
    _run(host, max_steps=6)
    # Steps take 2 s: after the write that publishes the parameters (t=0), reports wait until a write is 5 s old.
    batches = [[s for s, _ in w.reports] for w in host.writes]
    assert batches == [[], [1, 2, 3], [4, 5, 6], []]


def test_pause_with_state_checkpoints_and_pauses_without_state_stops():
    host = FakeHost({"lr": 0.5}, decisions={2: "PAUSE"})
    trial, state = _run(host, state=lambda: {"step": 2})
    assert state == TrialState.PAUSED
    (ck,) = [w.checkpoint for w in host.writes if w.checkpoint is not None]
    assert ck.step == 2 and load_state(ck.data) == {"step": 2}
    assert trial.snapshot().checkpoint_id == 100 + len(host.writes) - 1 and trial.wrote_checkpoint
    host = FakeHost({"lr": 0.5}, decisions={2: "PAUSE"})
    assert _run(host)[1] == TrialState.PRUNED  # no state to resume from: stopped in place
    assert all(w.checkpoint is None for w in host.writes)
    host = FakeHost({"lr": 0.5}, decisions={4: "PAUSE"})
    trial, state = _run(host, state={"s": 1})
    assert state == TrialState.COMPLETE  # a pause at the last step completes the trial


def test_the_budget_ends_a_run_paused_or_pruned():
    host = FakeHost({"lr": 0.5}, steps_left=2, checkpoint_at=(2,))
    _, state = _run(host, state={"s": 1})
    assert state == TrialState.PAUSED and host.writes[-1].error == "stopped when the study's budget ran out"
    host = FakeHost({"lr": 0.5}, steps_left=2)
    assert _run(host)[1] == TrialState.PRUNED


@pytest.mark.parametrize(
    ("result", "state", "error"),
    [
        (0.25, TrialState.COMPLETE, None),
        ({"loss": 0.5, "acc": 0.9}, TrialState.COMPLETE, None),
        ("bad", TrialState.FAILED, "the objective returned str 'bad'; expected None"),
        ({"loss": float("nan")}, TrialState.FAILED, "objective metric 'loss' is nan"),
        ({"acc": "x"}, TrialState.FAILED, "returned metrics: metric 'acc' must be a number, got str 'x'"),
    ],
)
def test_the_outcome_follows_the_result(result, state, error):
    host = FakeHost({"lr": 0.5})
    assert _run(host, result=result)[1] == state
    last = host.writes[-1]
    assert last.state == state.value
    assert (last.error or "").startswith(error or "")


def test_exceptions_and_interrupts():
    host = FakeHost({"lr": 0.5})
    trial = Trial(host, 7, 3)
    assert trial.finish(exc=KeyError("b")) == TrialState.FAILED and host.writes[-1].error == "KeyError: 'b'"
    with pytest.raises(RuntimeError, match="already finished"):
        trial.finish()
    trial = Trial(host, 8, 4)
    assert trial.finish(exc=TrialPruned("by hand")) == TrialState.PRUNED and host.writes[-1].error == "by hand"
    trial = Trial(host, 9, 5)
    trial.interrupt()
    assert host.writes[-1].state == "WAITING" and host.writes[-1].run is not None
    assert host.writes[-1].run.outcome == "INTERRUPTED"


def test_constraints_user_attrs_and_datasets_are_written_once_changed():
    host = FakeHost({"lr": 0.5})
    trial = Trial(host, 7, 3)
    trial.set_constraints([0.5, -1])
    trial.set_user_attr("note", "hi")
    trial.track_dataset("train", [1, 2, 3])
    with pytest.raises(TypeError, match="value 0 must be a number"):
        trial.set_constraints(["x"])
    trial.finish(1.0)
    (w,) = host.writes
    assert w.system_attrs == {"constraints": [0.5, -1.0]} and w.user_attrs == {"note": "hi"}
    assert w.datasets is not None and list(w.datasets) == ["train"] and host.datasets[0].name == "train"


def test_a_shared_weights_start_begins_at_the_donors_step():
    warm = WarmStart(parent_id=2, checkpoint_id=55, attrs={"shared_from": 1, "from_step": 3})
    host = FakeHost({"lr": 0.5}, restored=Restored(3, {"w": 1}, 55, warm, donor_number=1))
    trial = Trial(host, 7, 3)
    trial.suggest_float("lr", 1e-4, 1.0, log=True)
    assert trial.restore() == {"w": 1}
    assert trial.start_step == 3 and trial.parent_id == 2 and trial.restored_from == 55
    assert list(trial.steps(max_steps=5)) == [4, 5]
    assert host.writes[0].warm_start == warm and all(w.warm_start is None for w in host.writes[1:])


# ------------------------------------------------------------------ the expert in the loop
def test_a_hand_stop_read_back_with_a_report_ends_the_run_there():
    host = FakeHost({"lr": 0.5})
    host.requests = {3: HandRequest("stop", "ana")}  # writes: the parameters, report 1, report 2
    trial, state = _run(host, max_steps=10)
    assert state == TrialState.PRUNED and trial.snapshot().step == 2
    assert host.writes[-1].error == "stopped by hand by ana" and host.writes[-1].state == "PRUNED"
    host = FakeHost({"lr": 0.5})
    host.requests = {1: HandRequest("stop", "ana")}  # read back before the first step (a retried trial, say)
    trial, state = _run(host, max_steps=10)
    assert state == TrialState.PRUNED and trial.snapshot().step == 0


def test_a_hand_pause_saves_the_state_there_and_without_a_state_stops_and_says_so():
    host = FakeHost({"lr": 0.5})
    host.requests = {3: HandRequest("pause", "ana")}
    trial, state = _run(host, max_steps=10, state=lambda: {"w": 1})
    assert state == TrialState.PAUSED and host.writes[-1].error is None and trial.snapshot().step == 2
    (ck,) = [w.checkpoint for w in host.writes if w.checkpoint is not None]
    assert ck.step == 2 and load_state(ck.data) == {"w": 1}
    host = FakeHost({"lr": 0.5})
    host.requests = {3: HandRequest("pause", "ana")}
    trial, state = _run(host, max_steps=10)
    assert state == TrialState.PRUNED
    assert host.writes[-1].error == (
        "paused by hand by ana, but its objective saves no state (trial.report(..., state=...)): stopped instead"
    )


def test_a_hand_request_at_the_last_step_lets_the_trial_complete():
    host = FakeHost({"lr": 0.5})
    host.requests = {5: HandRequest("stop", "ana")}  # the write of report 4 of 4
    assert _run(host, max_steps=4)[1] == TrialState.COMPLETE


def test_enqueued_values_are_used_as_the_objective_suggests_them(caplog):
    host = FakeHost({"other": 0.5})
    trial = Trial(host, 7, 3, fixed={"lr": 1, "width": 64.0, "opt": "adam", "typo": 1})
    assert trial.suggest_float("lr", 1e-4, 1.0, log=True) == 1.0 and isinstance(trial.params["lr"], float)
    assert trial.suggest_int("width", 16, 512) == 64 and isinstance(trial.params["width"], int)
    assert trial.suggest_categorical("opt", ["sgd", "adam"]) == "adam"
    assert trial.suggest_float("other", 0.0, 1.0) == 0.5
    assert host.proposed == ["other"]  # the sampler proposes only what the enqueued values leave out
    with caplog.at_level("WARNING", logger="itero"):
        trial.finish(1.0)
    assert "never suggested the enqueued parameter(s) 'typo'" in caplog.text
    trial = Trial(host, 8, 4, fixed={"lr": 10, "width": 64.5})
    with pytest.raises(SpaceError, match=r"enqueued parameter 'lr'=10 is outside the objective's range float\[0.0001"):
        trial.suggest_float("lr", 1e-4, 1.0, log=True)
    with pytest.raises(SpaceError, match=r"'width'=64.5 is outside the objective's range int\[16, 512\]"):
        trial.suggest_int("width", 16, 512)
