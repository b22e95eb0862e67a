"""TPE's proposals for a given seed never change: seeded studies and sampler-level histories are replayed and
their proposals compared with values recorded from the implementation (a SHA-256 digest of the ``repr`` of every
proposal, which is exact for floats, plus a few proposals written out for a readable failure).

A change that makes TPE faster must keep these green; a change that means to alter proposals updates them and
says so. To print the current values: ``python tests/test_tpe_repeatable.py``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from typing import Any

import pytest

import itero
from itero.samplers import TPE, BaseSampler, ParEGO
from itero.space import CategoricalDistribution, Distribution, FloatDistribution, IntDistribution
from itero.trial import FrozenTrial, History, TrialState

Proposals = list[dict[str, Any]]


# --------------------------------------------------------------------------------------- seeded studies
def _three(trial: itero.Trial) -> tuple[float, int, str]:
    x = trial.suggest_float("x", 1e-3, 10.0, log=True)
    y = trial.suggest_int("y", 0, 10)
    z = trial.suggest_categorical("z", ["a", "b", "c"])
    return x, y, z


def _single(trial: itero.Trial) -> float:
    x, y, z = _three(trial)
    return (x - 1) ** 2 + y + (z == "b")


def _double(trial: itero.Trial) -> dict[str, float]:
    x, y, z = _three(trial)
    return {"f1": (math.log(x) - 0.5) ** 2 + 0.1 * y, "f2": (math.log(x) + 1.0) ** 2 + (z != "c") + 0.05 * (10 - y)}


def _triple(trial: itero.Trial) -> dict[str, float]:
    out = _double(trial)
    out["f3"] = abs(trial.params["y"] - 5) + 0.5 * (trial.params["z"] == "a")
    return out


def _conditional(trial: itero.Trial) -> float:
    """A define-by-run space (a parameter only some trials have) with constraints."""
    x, y, z = _three(trial)
    value = (x - 1) ** 2 + y + (z == "b")
    if z == "a":
        value += trial.suggest_float("w", -1.0, 1.0, step=0.25) ** 2
    trial.set_constraints([y - 7.5])
    return value


def _study(sampler: BaseSampler, objective: Callable[[itero.Trial], Any], objectives: dict[str, str], n: int):
    study = itero.create_study(
        "repeatable", storage="sqlite://", objectives=objectives, sampler=sampler, tracking=False
    )
    study.optimize(objective, n_trials=n, show_progress=False)
    trials = sorted(study.trials, key=lambda t: t.number)
    assert len(trials) == n
    return [dict(t.params) for t in trials]


SO = {"value": "minimize"}
MO2 = {"f1": "minimize", "f2": "minimize"}
MO3 = {"f1": "minimize", "f2": "minimize", "f3": "minimize"}


def _joint() -> Proposals:
    return _study(TPE(seed=0), _single, SO, 150)


def _univariate() -> Proposals:
    return _study(TPE(seed=1, multivariate=False), _single, SO, 150)


def _options() -> Proposals:
    sampler = TPE(seed=2, n_startup_trials=5, gamma=0.2, prior_weight=0.5, consider_endpoints=True)
    return _study(sampler, _single, SO, 120)


def _multi2() -> Proposals:
    return _study(TPE(seed=3), _double, MO2, 150)


def _multi2_joint() -> Proposals:
    return _study(TPE(seed=4, multivariate=True), _double, MO2, 100)


def _multi3() -> Proposals:
    return _study(TPE(seed=5), _triple, MO3, 100)


def _conditional_study() -> Proposals:
    return _study(TPE(seed=6), _conditional, SO, 150)


def _parego() -> Proposals:
    return _study(ParEGO(seed=7), _double, MO2, 100)


def _parego_univariate() -> Proposals:
    return _study(ParEGO(seed=8, multivariate=False), _double, MO2, 80)


# --------------------------------------------------------------------- sampler level: every trial state
SPACE: dict[str, Distribution] = {
    "a": FloatDistribution(-3.0, 5.0),
    "b": FloatDistribution(1e-5, 1.0, log=True),
    "c": FloatDistribution(0.0, 1.0, step=0.1),
    "d": IntDistribution(16, 512, log=True),
    "e": IntDistribution(0, 100, step=5),
    "f": CategoricalDistribution(("sgd", "adam", "rmsprop", None, 3)),
}


def _value(p: dict[str, Any]) -> float:
    return (p["a"] - 1.0) ** 2 + math.log(p["b"]) ** 2 / 10 + p["c"] + abs(math.log2(p["d"]) - 6) + p["e"] / 50.0


def _history_run(sampler: BaseSampler, n: int, directions: dict[str, str]) -> Proposals:
    """Trials complete, prune (with reports), fail, complete without a value or stay running (constant liar),
    by trial number; some complete trials are infeasible."""
    history = History(directions)
    out: Proposals = []
    for i in range(n):
        history.upsert([FrozenTrial(id=i + 1, number=i, state=TrialState.RUNNING)])
        ask = FrozenTrial(id=i + 1, number=i, state=TrialState.RUNNING)
        params = dict(sampler.sample_joint(history, ask))
        for name, dist in SPACE.items():
            if name not in params:
                part = FrozenTrial(id=i + 1, number=i, state=TrialState.RUNNING, params=dict(params))
                params[name] = sampler.sample(history, part, name, dist)
        out.append(params)
        v = _value(params)
        metrics = {"loss": v} if len(directions) == 1 else {"loss": v, "size": float(params["d"]) * params["c"]}
        kind = i % 11
        common: dict[str, Any] = {"id": i + 1, "number": i, "params": params, "distributions": dict(SPACE)}
        if kind == 3:
            t = FrozenTrial(state=TrialState.PRUNED, reports={1: {"loss": v + 1}, 2: {"loss": v}}, step=2, **common)
        elif kind == 5:
            t = FrozenTrial(state=TrialState.FAILED, **common)
        elif kind == 7 and i > n - 40:
            t = FrozenTrial(state=TrialState.RUNNING, **common)  # still running when the study ends
        elif kind == 9:
            t = FrozenTrial(state=TrialState.COMPLETE, metrics={}, **common)
        else:
            attrs = {"constraints": [params["c"] - 0.8]} if kind in (2, 4) else {}
            t = FrozenTrial(state=TrialState.COMPLETE, metrics=metrics, system_attrs=attrs, **common)
        history.upsert([t])
    return out


def _history_joint() -> Proposals:
    return _history_run(TPE(seed=10, n_startup_trials=8), 420, {"loss": "minimize"})


def _history_univariate() -> Proposals:
    return _history_run(TPE(seed=11, multivariate=False, constant_liar=False), 320, {"loss": "minimize"})


def _history_multi() -> Proposals:
    return _history_run(TPE(seed=12), 300, {"loss": "minimize", "size": "maximize"})


SCENARIOS: dict[str, Callable[[], Proposals]] = {
    "joint": _joint,
    "univariate": _univariate,
    "options": _options,
    "multi2": _multi2,
    "multi2_joint": _multi2_joint,
    "multi3": _multi3,
    "conditional": _conditional_study,
    "parego": _parego,
    "parego_univariate": _parego_univariate,
    "history_joint": _history_joint,
    "history_univariate": _history_univariate,
    "history_multi": _history_multi,
}

# Recorded from the implementation before it was split into a package and sped up.
EXPECTED: dict[str, tuple[str, dict[int, str]]] = {
    "joint": (
        "0edd7f9b60fa3967e4a3f2c0c6849266fde791174a2f2342dd0df3b70e4b44be",
        {
            37: "{'x': 0.09803250330207407, 'y': 0, 'z': 'a'}",
            75: "{'x': 1.160597908443211, 'y': 0, 'z': 'a'}",
            149: "{'x': 1.5585405429406853, 'y': 0, 'z': 'c'}",
        },
    ),
    "univariate": (
        "630ee3bfd57a16043985cbffa42b96cc5a28fbc7fcd14bc4e2d0dfedca4e88d8",
        {
            37: "{'x': 0.441626831383584, 'y': 0, 'z': 'a'}",
            75: "{'x': 0.5239708664264733, 'y': 0, 'z': 'a'}",
            149: "{'x': 0.9076660414262173, 'y': 0, 'z': 'c'}",
        },
    ),
    "options": (
        "f836cabd0041daf5b93c286613aedd2956bb8a9a3f622019602815ec72c06c3f",
        {
            30: "{'x': 5.222513053035473, 'y': 4, 'z': 'c'}",
            60: "{'x': 1.1040064806317127, 'y': 0, 'z': 'c'}",
            119: "{'x': 0.0019279553779538506, 'y': 7, 'z': 'b'}",
        },
    ),
    "multi2": (
        "22391f595f8d50465711df5a29ec3a2a64ddcad1f2b33cc9fb1fe9421a6ac837",
        {
            37: "{'x': 0.40065616003963367, 'y': 4, 'z': 'b'}",
            75: "{'x': 0.01270279116596813, 'y': 1, 'z': 'c'}",
            149: "{'x': 1.2448842093915584, 'y': 7, 'z': 'c'}",
        },
    ),
    "multi2_joint": (
        "9d0aafa981355ec6caf5e802e79617756271b8ef50c754cbd1c87e93728f88ec",
        {
            25: "{'x': 2.923536384440575, 'y': 0, 'z': 'c'}",
            50: "{'x': 0.05520397743899469, 'y': 10, 'z': 'b'}",
            99: "{'x': 0.45582323876131337, 'y': 0, 'z': 'c'}",
        },
    ),
    "multi3": (
        "694975375c7ca6d9333298ab756fa7e50c298470afa4c1dfef33f1adaf4bce2b",
        {
            25: "{'x': 2.643955333099146, 'y': 6, 'z': 'c'}",
            50: "{'x': 0.09787659567276767, 'y': 3, 'z': 'a'}",
            99: "{'x': 0.5263691426914896, 'y': 3, 'z': 'c'}",
        },
    ),
    "conditional": (
        "4f0ae5c9989c2f8456a51161b2ba76807aaa3842db06f1e0aa74b191262d039b",
        {
            37: "{'x': 3.3700057648356565, 'y': 1, 'z': 'c'}",
            75: "{'x': 1.0025153327074425, 'y': 0, 'z': 'c'}",
            149: "{'x': 0.07931376827995547, 'y': 10, 'z': 'a', 'w': 1.0}",
        },
    ),
    "parego": (
        "fba0e12e5f7cf1cffee7689d76027744b534ed5b697298fb2711f46efe736163",
        {
            25: "{'x': 0.9396322626111818, 'y': 1, 'z': 'b'}",
            50: "{'x': 1.2923897511178974, 'y': 1, 'z': 'c'}",
            99: "{'x': 0.4954323153625911, 'y': 7, 'z': 'c'}",
        },
    ),
    "parego_univariate": (
        "bf5e1a7d60ac184f2a6989b1eb50d0058395267beddc00dad556f2312554f8e5",
        {
            20: "{'x': 0.7463280544092015, 'y': 0, 'z': 'a'}",
            40: "{'x': 2.7571925403557778, 'y': 1, 'z': 'a'}",
            79: "{'x': 0.30680118827424513, 'y': 4, 'z': 'c'}",
        },
    ),
    "history_joint": (
        "814ab073f2d42d50055fe500b85133295acdaa5f23608c81cf95fd768ecdb72f",
        {
            105: "{'a': 1.6657899406142187, 'b': 0.19969601104572346, 'c': 0.4, 'd': 66, 'e': 25, 'f': 'rmsprop'}",
            210: "{'a': 1.2748988465502125, 'b': 0.32184571336886303, 'c': 0.4, 'd': 68, 'e': 10, 'f': 'rmsprop'}",
            419: "{'a': 0.8775870777871662, 'b': 0.7506829527028209, 'c': 0.0, 'd': 58, 'e': 0, 'f': 'rmsprop'}",
        },
    ),
    "history_univariate": (
        "0d8ceeaea463ef5dfa580cf8a4179de34601f4a04a2b9a32c07ddbb0d4370ea8",
        {
            80: "{'a': 1.6520920210275847, 'b': 0.1331544821536566, 'c': 0.6000000000000001, 'd': 54, 'e': 10, 'f': 'rmsprop'}",
            160: "{'a': 1.4155472786605436, 'b': 0.18264832697046174, 'c': 0.4, 'd': 61, 'e': 0, 'f': None}",
            319: "{'a': 3.8579644440218868, 'b': 0.3488025232530451, 'c': 0.0, 'd': 59, 'e': 15, 'f': 'adam'}",
        },
    ),
    "history_multi": (
        "8c93100de9bbe859434d92340697c6cc59bc15ae6f226b30947ce5bb339d6116",
        {
            75: "{'a': 2.370675041628047, 'b': 0.035880524123398205, 'c': 0.6000000000000001, 'd': 100, 'e': 15, 'f': 3}",
            150: "{'a': 1.2365139081437198, 'b': 0.9402125690486074, 'c': 0.8, 'd': 298, 'e': 0, 'f': 3}",
            299: "{'a': 1.0470442033756129, 'b': 0.8065825847675556, 'c': 0.8, 'd': 118, 'e': 0, 'f': 3}",
        },
    ),
}


def _digest(proposals: Proposals) -> str:
    return hashlib.sha256(repr(proposals).encode()).hexdigest()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_seeded_proposals_are_unchanged(name: str) -> None:
    proposals = SCENARIOS[name]()
    digest, spots = EXPECTED[name]
    for number, params in spots.items():
        assert repr(proposals[number]) == params, number
    assert _digest(proposals) == digest


def _spots(n: int) -> list[int]:
    return [n // 4, n // 2, n - 1]


if __name__ == "__main__":
    print("EXPECTED: dict[str, tuple[str, dict[int, str]]] = {")
    for key, run in SCENARIOS.items():
        got = run()
        spots = {i: repr(got[i]) for i in _spots(len(got))}
        print(f"    {key!r}: (\n        {_digest(got)!r},\n        {spots!r},\n    ),")
    print("}")
