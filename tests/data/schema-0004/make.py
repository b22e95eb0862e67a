"""Made tests/data/schema-0004/itero.db (schema revision 0004) with itero at commit 84644ff: run in an empty folder."""

import itero


def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    state = trial.restore()
    done = 0 if state is None else state["done"]
    for step in trial.steps(max_steps=4):
        done += 1
        trial.report(step, {"loss": (x - 1.0) ** 2 + (kind == "a") + 1.0 / step}, state={"done": done})


study = itero.create_study(
    "upgrade",
    storage="sqlite:///itero.db",
    objectives={"loss": "minimize"},
    sampler={"name": "tpe", "seed": 0},
    scheduler={"name": "asha", "max_steps": 4, "min_steps": 1, "eta": 2},
)
study.optimize(objective, n_trials=8, show_progress=False)
print([(t.number, t.state.value, t.step) for t in study.trials])
