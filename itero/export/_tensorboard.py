"""Export a study to TensorBoard's HParams view: one run directory per trial.

    >>> from itero.export import to_tensorboard
    >>> to_tensorboard(itero.load_study("digits", storage="sqlite:///itero.db"), "tb/digits")  # doctest: +SKIP
    PosixPath('tb/digits')

Then ``tensorboard --logdir tb/digits`` and open the HPARAMS tab. Needs only the ``tensorboard`` package (not
TensorFlow, not PyTorch): the summaries are written as protocol buffers with TensorBoard's own record writer.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itero.export._common import as_number, same
from itero.space import CategoricalDistribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from itero.study import Study

INSTALL_HINT = "pip install tensorboard (or pip install 'itero[export]')"
#: Event files this module writes end with this suffix; a new export removes the previous export's files.
SUFFIX = ".itero"
#: Cost scalars written for each trial (at its last step) and listed as HParams metrics after the objectives.
COST_TAGS = ("cost/steps", "cost/wall_seconds", "cost/cpu_seconds", "cost/energy_kwh", "cost/co2_g")

HParamValue = bool | float | str


def require_tensorboard() -> None:
    """Raise an ``ImportError`` that says what to install when TensorBoard is missing."""
    try:
        import tensorboard.plugins.hparams.summary_v2
        import tensorboard.summary.writer.record_writer  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"exporting to TensorBoard needs the tensorboard package: {INSTALL_HINT}") from exc


def to_tensorboard(study: Study, logdir: str | os.PathLike[str]) -> Path:
    """Write ``study`` for TensorBoard's HParams view under ``logdir``; returns ``logdir`` as a ``Path``.

    ``logdir`` gets the experiment summary: each hyper-parameter with its domain (the choices of a categorical,
    the interval of a float or an int, from ``trial.distributions``) and the metrics (the study's objectives,
    then ``cost/steps``, ``cost/wall_seconds``, ``cost/cpu_seconds``, ``cost/energy_kwh``, ``cost/co2_g``).
    Each trial gets ``logdir/trial-<number>`` with its hyper-parameter values, start time and (when finished)
    status (success, failure, or unknown for a pruned trial: TensorBoard has no such status), and a scalar of
    every reported metric at each step. A final metric that differs from the last report (or was never
    reported) is written once more at the trial's step, so that HParams shows the final value.

    Exporting again into the same ``logdir`` replaces the event files of the previous export (those ending in
    ``.itero``) and leaves every other file alone.

        to_tensorboard(itero.load_study("digits", storage="sqlite:///itero.db"), "tb/digits")
    """
    require_tensorboard()
    from tensorboard.plugins.hparams import summary_v2 as hp

    root = Path(logdir)
    trials = study.trials
    root.mkdir(parents=True, exist_ok=True)
    for old in [*root.glob(f"events.out.tfevents.*{SUFFIX}"), *root.glob(f"trial-*/events.out.tfevents.*{SUFFIX}")]:
        old.unlink()
    hparams, convert = _hparams(trials)
    metrics = [hp.Metric(name, description=f"objective: {way}") for name, way in study.directions.items()]
    metrics += [hp.Metric(tag, description="itero cost of the trial, all its runs") for tag in COST_TAGS]
    created = min((t.datetime_start.timestamp() for t in trials if t.datetime_start), default=time.time())
    with _EventFile(root) as events:
        events.write(hp.hparams_config_pb(hparams, metrics, time_created_secs=created), 0, created)
    for trial in trials:
        _write_trial(root / f"trial-{trial.number}", trial, convert)
    return root


def _write_trial(directory: Path, trial: FrozenTrial, convert: dict[str, Callable[[Any], HParamValue]]) -> None:
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
    from tensorboard.plugins.hparams import summary_v2 as hp

    start = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
    end = trial.datetime_complete.timestamp() if trial.datetime_complete else start
    values = {name: convert[name](value) for name, value in trial.params.items()}
    with _EventFile(directory) as events:
        events.write(hp.hparams_pb(values, trial_id=directory.name, start_time_secs=start), 0, start)
        last: dict[str, tuple[int, float]] = {}
        for step in sorted(trial.reports):
            summary = Summary()
            for name, value in trial.reports[step].items():
                number = as_number(value)
                if number is not None:
                    summary.value.add(tag=name, simple_value=number)
                    last[name] = (step, number)
            if summary.value:
                events.write(summary, step, start)
        final = Summary()
        for name, value in trial.metrics.items():
            number = as_number(value)
            seen = last.get(name)
            if number is not None and (seen is None or not same(seen[1], number)):
                final.value.add(tag=name, simple_value=number)
        cost = trial.cost
        amounts = (cost.steps, cost.wall_seconds, cost.cpu_seconds, cost.energy_kwh, cost.co2_g)
        for tag, amount in zip(COST_TAGS, amounts, strict=True):
            final.value.add(tag=tag, simple_value=float(amount))
        step = max([trial.step, *(s for s, _ in last.values())])
        events.write(final, step, end)
        status = _STATUS.get(trial.state)
        if status is not None:
            info = plugin_data_pb2.SessionEndInfo(status=getattr(api_pb2, status), end_time_secs=end)
            data = plugin_data_pb2.HParamsPluginData(session_end_info=info)
            ended = Summary()
            ended.value.add(
                tag=metadata.SESSION_END_INFO_TAG,
                metadata=metadata.create_summary_metadata(data),
                tensor=metadata.NULL_TENSOR,
            )
            events.write(ended, step, end)


#: TensorBoard has no status for a trial stopped early on purpose: a PRUNED trial's session ends UNKNOWN.
_STATUS = {
    TrialState.COMPLETE: "STATUS_SUCCESS",
    TrialState.PRUNED: "STATUS_UNKNOWN",
    TrialState.FAILED: "STATUS_FAILURE",
}


def _hparams(trials: list[FrozenTrial]) -> tuple[list[Any], dict[str, Callable[[Any], HParamValue]]]:
    """The HParams of the experiment (with domains) and, for each, how to turn a trial's value into its type.

    TensorBoard knows bool, number and string values: a parameter whose values (choices and values seen) are
    all bools stays bool, all numbers becomes float, all strings stays str; anything else (None, a mix) is
    shown as ``str(value)``.
    """
    from tensorboard.plugins.hparams import summary_v2 as hp

    names: dict[str, None] = {}
    dists: dict[str, list[Any]] = {}
    seen: dict[str, list[Any]] = {}
    for t in trials:
        for name, value in t.params.items():
            names.setdefault(name)
            seen.setdefault(name, []).append(value)
            if name in t.distributions and t.distributions[name] not in dists.setdefault(name, []):
                dists[name].append(t.distributions[name])
    result, convert = [], {}
    for name in names:
        kinds = dists.get(name, [])
        choices = [c for d in kinds if isinstance(d, CategoricalDistribution) for c in d.choices]
        to = convert[name] = _converter([*choices, *seen[name]])
        domain: Any = None
        if kinds and all(isinstance(d, CategoricalDistribution) for d in kinds):
            domain = hp.Discrete(_unique(to(c) for c in [*choices, *seen[name]]))
        elif kinds and all(isinstance(d, (FloatDistribution, IntDistribution)) for d in kinds) and to is float:
            low = min([*(d.low for d in kinds), *seen[name]])
            high = max([*(d.high for d in kinds), *seen[name]])
            ints = all(isinstance(d, IntDistribution) for d in kinds) and isinstance(low + high, int)
            domain = hp.IntInterval(low, high) if ints else hp.RealInterval(float(low), float(high))
        result.append(hp.HParam(name, domain))
    return result, convert


def _converter(values: list[Any]) -> Callable[[Any], HParamValue]:
    if all(isinstance(v, bool) for v in values):
        return bool
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return float
    return str


def _unique(values: Iterable[HParamValue]) -> list[HParamValue]:
    return list(dict.fromkeys(values))


class _EventFile:
    """One ``events.out.tfevents.*.itero`` file, written synchronously (no background thread)."""

    def __init__(self, directory: Path) -> None:
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        directory.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}{SUFFIX}"
        self._event = event_pb2.Event
        self._writer = RecordWriter(open(directory / name, "wb"))  # noqa: SIM115 (closed in __exit__)
        self._writer.write(self._event(wall_time=time.time(), file_version="brain.Event:2").SerializeToString())

    def write(self, summary: Any, step: int, wall_time: float) -> None:
        self._writer.write(self._event(wall_time=wall_time, step=step, summary=summary).SerializeToString())

    def __enter__(self) -> _EventFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()


__all__ = ["require_tensorboard", "to_tensorboard"]
