"""Hypergradients against closed forms (ridge regression), finite differences (a small MLP), and hand computation
(the online learning-rate rule)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

import itero
from itero.hypergrad import (
    ConcreteDropout,
    ExampleWeights,
    HypergradientLR,
    LogWeightDecay,
    NegativeCurvatureError,
    NeumannDivergenceError,
    implicit_hypergradient,
    record_hparams,
    unrolled_hypergradient,
)

D64 = torch.float64


def ridge_problem(n: int = 60, d: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g, dtype=D64)
    w_true = torch.randn(d, generator=g, dtype=D64)
    y = x @ w_true + 0.3 * torch.randn(n, generator=g, dtype=D64)
    xv = torch.randn(n // 2, d, generator=g, dtype=D64)
    yv = xv @ w_true + 0.3 * torch.randn(n // 2, generator=g, dtype=D64)

    def train(p, h):
        return 0.5 * ((x @ p["w"] - y) ** 2).sum() + 0.5 * (h["log_l"].exp() * p["w"] ** 2).sum()

    def val(p, h):
        return 0.5 * ((xv @ p["w"] - yv) ** 2).sum()

    def solve(log_l):
        a = x.T @ x + torch.diag(log_l.exp().expand(d))
        return a, torch.linalg.solve(a, x.T @ y)

    def exact(log_l):
        """d val / d log_l in closed form: dw/dlog_l_j = -A^-1 e_j l_j w_j."""
        a, w = solve(log_l)
        gv = xv.T @ (xv @ w - yv)
        u = torch.linalg.solve(a, gv)  # A symmetric
        per_feature = -u * log_l.exp().expand(d) * w
        return per_feature.sum().reshape(()) if log_l.ndim == 0 else per_feature, w, a, gv

    return train, val, exact


@pytest.mark.parametrize("shape", ["scalar", "per_feature"])
def test_conjugate_gradient_matches_the_closed_form(shape):
    train, val, exact = ridge_problem()
    log_l = torch.tensor(0.7, dtype=D64) if shape == "scalar" else torch.linspace(-1, 2, 6, dtype=D64)
    want, w, _, _ = exact(log_l)
    got = implicit_hypergradient(train, val, {"w": w}, {"log_l": log_l}, method="cg", iterations=50)
    assert got.grads["log_l"].shape == log_l.shape
    torch.testing.assert_close(got.grads["log_l"], want, rtol=1e-6, atol=0)
    assert got.residual < 1e-8


class _SquareWithoutJvp(torch.autograd.Function):
    """x**2 with a backward formula and no forward-mode one: ``torch.func.jvp`` refuses it."""

    @staticmethod
    def forward(x):
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


def test_an_op_without_forward_mode_falls_back_to_reverse_over_reverse():
    train, val, exact = ridge_problem()

    def train_custom(p, h):  # the same loss, its penalty term through the custom op
        data = train(p, h) - 0.5 * (h["log_l"].exp() * p["w"] ** 2).sum()
        return data + 0.5 * (h["log_l"].exp() * _SquareWithoutJvp.apply(p["w"])).sum()

    log_l = torch.linspace(-1, 2, 6, dtype=D64)
    want, w, _, _ = exact(log_l)
    with pytest.raises(RuntimeError):
        torch.func.jvp(lambda v: _SquareWithoutJvp.apply(v).sum(), (w,), (w,))
    got = implicit_hypergradient(train_custom, val, {"w": w}, {"log_l": log_l}, method="cg", iterations=50)
    torch.testing.assert_close(got.grads["log_l"], want, rtol=1e-6, atol=0)


def test_neumann_matches_its_truncation_and_converges():
    train, val, exact = ridge_problem()
    log_l = torch.linspace(-1, 2, 6, dtype=D64)
    want, w, a, gv = exact(log_l)
    alpha = 1.0 / float(torch.linalg.eigvalsh(a).max())
    errors = []
    for terms in (5, 20, 80, 320):
        got = implicit_hypergradient(
            train, val, {"w": w}, {"log_l": log_l}, method="neumann", iterations=terms, alpha=alpha
        )
        # The series with K terms solves A x = g only up to (I - alpha A)^(K+1): x_K = A^-1 (I - (I - aA)^(K+1)) g.
        m = torch.eye(6, dtype=D64) - alpha * a
        x_k = torch.linalg.solve(a, (torch.eye(6, dtype=D64) - torch.linalg.matrix_power(m, terms + 1)) @ gv)
        expected = -x_k * log_l.exp() * w
        torch.testing.assert_close(got.grads["log_l"], expected, rtol=1e-8, atol=1e-12)
        errors.append(float((got.grads["log_l"] - want).norm() / want.norm()))
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0] / 10


def test_neumann_refuses_a_step_size_that_diverges():
    train, val, exact = ridge_problem()
    log_l = torch.tensor(0.0, dtype=D64)
    _, w, a, _ = exact(log_l)
    top = float(torch.linalg.eigvalsh(a).max())
    with pytest.raises(
        NeumannDivergenceError, match=r"alpha=.* but 2 / \(largest Hessian eigenvalue .*\) = .*method='cg'"
    ):
        implicit_hypergradient(train, val, {"w": w}, {"log_l": log_l}, method="neumann", alpha=3.0 / top)
    with pytest.raises(NeumannDivergenceError, match=r"diverged after .* terms"):
        implicit_hypergradient(
            train, val, {"w": w}, {"log_l": log_l}, method="neumann", alpha=3.0 / top, check=False, iterations=500
        )
    ok = implicit_hypergradient(train, val, {"w": w}, {"log_l": log_l}, method="neumann", iterations=10)
    assert ok.lambda_max == pytest.approx(top, rel=1e-3)  # alpha=None: 1 / the estimated eigenvalue
    assert ok.lambda_max <= top * (1 + 1e-9)  # power iteration approaches it from below


def test_negative_curvature_is_an_error_naming_the_fix_and_damping_solves_it():
    def train(p, h):  # Hessian diag(1.5, -0.5): indefinite
        return 0.5 * (p["w"][0] ** 2 - p["w"][1] ** 2) + 0.5 * h["l"].exp() * (p["w"] ** 2).sum()

    def val(p, h):
        return ((p["w"] - torch.tensor([1.0, 3.0], dtype=D64)) ** 2).sum()

    w = {"w": torch.tensor([1.0, 1.0], dtype=D64)}
    h = {"l": torch.tensor(0.5, dtype=D64).log()}
    with pytest.raises(NegativeCurvatureError, match=r"non-positive curvature .* pass damping >"):
        implicit_hypergradient(train, val, w, h, iterations=10)
    got = implicit_hypergradient(train, val, w, h, iterations=10, damping=1.0)
    assert float(got.grads["l"]) == pytest.approx(4.0)


def test_a_warm_started_solve_is_more_accurate_for_the_same_iterations():
    train, val, exact = ridge_problem()
    log_l = torch.linspace(-1, 2, 6, dtype=D64)
    _, w, _, _ = exact(log_l)
    previous = implicit_hypergradient(train, val, {"w": w}, {"log_l": log_l}, iterations=50)
    nearby = log_l + 0.01  # the next hyper-step: close to the last one
    want, w2, _, _ = exact(nearby)
    args = (train, val, {"w": w2}, {"log_l": nearby})
    warm = implicit_hypergradient(*args, iterations=2, x0=previous.solution)
    cold = implicit_hypergradient(*args, iterations=2)
    assert warm.residual < cold.residual / 10
    assert float((warm.grads["log_l"] - want).norm()) < float((cold.grads["log_l"] - want).norm()) / 10


class Tiny(nn.Module):
    """An MLP with a batch-norm layer (its running statistics are buffers)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 6)
        self.bn = nn.BatchNorm1d(6)
        self.fc2 = nn.Linear(6, 1)

    def forward(self, x):
        return self.fc2(torch.tanh(self.bn(self.fc1(x)))).squeeze(-1)


def _mlp_problem():
    torch.manual_seed(0)
    model = Tiny().double()
    with torch.no_grad():  # non-trivial buffers, used as constants in eval mode
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
    model.eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(40, 3, generator=g, dtype=D64)
    y = torch.sin(x.sum(1)) + 0.1 * torch.randn(40, generator=g, dtype=D64)
    xv = torch.randn(30, 3, generator=g, dtype=D64)
    yv = torch.sin(xv.sum(1))
    buffers = {k: v for k, v in model.named_buffers()}
    wd = LogWeightDecay(model, per="layer", init=0.3).double()

    def out(p, inputs):
        return functional_call(model, {**p, **buffers}, (inputs,))

    def train(p, h):
        return F.mse_loss(out(p, x), y, reduction="sum") + wd.penalty(p, h["log_wd"])

    def val(p, h):
        return F.mse_loss(out(p, xv), yv, reduction="sum")

    init = {k: v.detach().clone() for k, v in model.named_parameters()}
    return model, train, val, init, wd


def _train_to_optimum(train, init, log_wd, lbfgs: bool = True, key: str = "log_wd"):
    """A few L-BFGS passes, then Newton steps on the full (37 x 37) Hessian: the optimum to machine precision,
    which finite differences of the retrained optimum need."""
    h = {key: log_wd}
    p = {k: v.clone().requires_grad_(True) for k, v in init.items()}
    if lbfgs:
        opt = torch.optim.LBFGS(list(p.values()), lr=1, max_iter=500, tolerance_grad=1e-10, history_size=50,
                                line_search_fn="strong_wolfe")  # fmt: skip

        def closure():
            opt.zero_grad()
            loss = train(p, h)
            loss.backward()
            return loss

        opt.step(closure)
    names = list(p)
    shapes = [p[k].shape for k in names]
    sizes = [p[k].numel() for k in names]

    def unflat(flat):
        return {k: t.reshape(sh) for k, t, sh in zip(names, torch.split(flat, sizes), shapes, strict=True)}

    flat = torch.cat([p[k].detach().reshape(-1) for k in names])
    for _ in range(8):
        g = torch.autograd.functional.jacobian(lambda f: train(unflat(f), h), flat)
        hess = torch.autograd.functional.hessian(lambda f: train(unflat(f), h), flat)
        flat = flat - torch.linalg.solve(hess, g)
    return {k: v.detach() for k, v in unflat(flat).items()}


def test_implicit_hypergradient_of_an_mlp_matches_finite_differences():
    _, train, val, init, wd = _mlp_problem()
    log_wd = wd.log_wd.detach().clone()
    w = _train_to_optimum(train, init, log_wd)
    got = implicit_hypergradient(train, val, w, {"log_wd": log_wd}, method="cg", iterations=200, tol=1e-12)
    eps = 1e-4
    fd = torch.zeros_like(log_wd)
    for j in range(len(log_wd)):
        vals = []
        for sign in (1, -1):
            shifted = log_wd.clone()
            shifted[j] += sign * eps
            vals.append(float(val(_train_to_optimum(train, w, shifted, lbfgs=False), {"log_wd": shifted})))
        fd[j] = (vals[0] - vals[1]) / (2 * eps)
    torch.testing.assert_close(got.grads["log_wd"], fd, rtol=1e-3, atol=1e-6)


def test_unrolled_hypergradient_matches_finite_differences():
    _, train, val, init, wd = _mlp_problem()
    g = torch.Generator().manual_seed(2)
    batches = [torch.randperm(40, generator=g)[:10] for _ in range(6)]
    x_all = torch.randn(40, 3, generator=torch.Generator().manual_seed(3), dtype=D64)

    def step_loss(p, h, idx):
        return train(p, h) * (len(idx) / 40)

    def run(log_wd, lr):
        hg, _, v = unrolled_hypergradient(
            step_loss, val, init, {"log_wd": log_wd, "lr": lr}, batches, lr="lr", momentum=0.5
        )
        return hg, v

    log_wd = wd.log_wd.detach().clone()
    lr = torch.tensor(0.01, dtype=D64)
    hg, _ = run(log_wd, lr)
    eps = 1e-6
    for j in range(len(log_wd)):
        up, down = log_wd.clone(), log_wd.clone()
        up[j] += eps
        down[j] -= eps
        fd = (run(up, lr)[1] - run(down, lr)[1]) / (2 * eps)
        assert float(hg["log_wd"][j]) == pytest.approx(fd, rel=1e-5, abs=1e-8)
    fd_lr = (run(log_wd, lr + eps)[1] - run(log_wd, lr - eps)[1]) / (2 * eps)
    assert float(hg["lr"]) == pytest.approx(fd_lr, rel=1e-5)
    assert x_all.shape == (40, 3)


def test_online_learning_rate_rule_matches_a_hand_computation():
    a, beta = 2.0, 0.01
    x = nn.Parameter(torch.tensor(3.0, dtype=D64))
    opt = torch.optim.SGD([x], lr=0.1)
    tuner = HypergradientLR(opt, hyper_lr=beta)
    # By hand: alpha_t = alpha_{t-1} + beta * g_t * g_{t-1}; x_{t+1} = x_t - alpha_t * g_t, with g = a x.
    xh, lr, g_prev = 3.0, 0.1, None
    for _ in range(5):
        opt.zero_grad()
        (0.5 * a * x**2).backward()
        tuner.step()
        g = a * xh
        if g_prev is not None:
            lr = lr + beta * g * g_prev
        xh, g_prev = xh - lr * g, g
        assert float(x) == pytest.approx(xh, rel=1e-12)
        assert tuner.lrs[0] == pytest.approx(lr, rel=1e-12)
    assert [h[0] for h in tuner.history][:2] == [0.1, pytest.approx(0.1 + beta * 6.0 * 2.4 * 2)]


def test_hyperparameter_modules():
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    wd = LogWeightDecay(model, per="layer", init=1e-3)
    assert wd.groups == ["0", "2"] and wd.values() == pytest.approx({"0": 1e-3, "2": 1e-3})
    params = dict(model.named_parameters())
    want = 0.5 * 1e-3 * sum(float((p**2).sum()) for p in params.values())
    assert float(wd.penalty(params)) == pytest.approx(want, rel=1e-5)
    assert len(LogWeightDecay(model, per="parameter").groups) == 4
    with pytest.raises(ValueError, match="per must be"):
        LogWeightDecay(model, per="neuron")
    ew = ExampleWeights(5)
    assert torch.allclose(ew.weights(), torch.ones(5))
    losses = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    assert float(ew.weighted_mean(losses)) == pytest.approx(3.0)
    drop = ConcreteDropout(p=0.3)
    out = drop(torch.ones(1000, 10))
    (g,) = torch.autograd.grad(out.sum(), drop.logit_p)
    assert float(g) != 0 and drop.p == pytest.approx(0.3)
    assert abs(float(out.mean()) - 1.0) < 0.1  # rescaled by 1 / (1 - p)


def test_a_study_samples_discrete_params_and_records_the_tuned_ones(tmp_path):
    """The hybrid: TPE picks the width; the learning rate is tuned online inside each trial and recorded."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 5, generator=g)
    y = (x[:, 0] > 0).long()

    def objective(trial: itero.Trial) -> None:
        width = trial.suggest_categorical("width", [4, 16])
        torch.manual_seed(trial.number)
        model = nn.Sequential(nn.Linear(5, width), nn.ReLU(), nn.Linear(width, 2))
        opt = torch.optim.SGD(model.parameters(), lr=0.05)
        tuner = HypergradientLR(opt, hyper_lr=1e-4)
        for step in trial.steps(4):
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            tuner.step()
            tuned = record_hparams(trial, {"lr": tuner.lrs[0]})
            trial.report(step, {"loss": float(loss), **tuned})

    study = itero.create_study(
        "hybrid",
        storage=f"sqlite:///{tmp_path}/h.db",
        objectives={"loss": "minimize"},
        sampler={"name": "tpe", "seed": 0},
        scheduler="fifo",
    )
    study.optimize(objective, n_trials=6, show_progress=False)
    for t in study.trials:
        assert t.state == itero.TrialState.COMPLETE and set(t.params) == {"width", "lr"}
        trajectory = [t.reports[s]["hp.lr"] for s in sorted(t.reports)]
        assert trajectory[-1] == pytest.approx(t.params["lr"]) and trajectory[0] == pytest.approx(0.05)
        assert len(set(trajectory)) > 1  # the rate moved
    assert math.isfinite(study.best_value)
    with pytest.raises(itero.SpaceError, match="was suggested by the sampler"):
        _record_over_suggested(study)


def _record_over_suggested(study: itero.Study) -> None:
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.record_param("x", 0.5)


def test_the_hybrid_example_runs(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    example = Path(__file__).parents[1] / "examples" / "hypergrad_digits.py"
    monkeypatch.setattr(
        sys, "argv", [str(example), "--trials", "2", "--epochs", "2", "--storage", f"sqlite:///{tmp_path}/e.db"]
    )
    runpy.run_path(str(example), run_name="__main__")
    out = capsys.readouterr().out
    assert "best trial #" in out and "wd.0 = " in out and "lr = " in out
    study = itero.load_study("digits-hypergrad", storage=f"sqlite:///{tmp_path}/e.db")
    t = study.best_trial
    assert {"width", "depth", "lr", "wd.0"} <= set(t.params)
    assert [r["hp.wd.0"] for _, r in sorted(t.reports.items())][-1] == pytest.approx(t.params["wd.0"])


def test_a_soft_metric_is_a_usable_outer_objective():
    """1 - soft macro-F1 on validation as the outer loss of a logistic regression: the implicit hypergradient
    matches finite differences of the retrained optimum."""
    from itero.metrics import soft_f1

    g = torch.Generator().manual_seed(5)
    x, xv = torch.randn(60, 4, generator=g, dtype=D64), torch.randn(40, 4, generator=g, dtype=D64)
    w_true = torch.randn(4, 3, generator=g, dtype=D64)
    y, yv = (x @ w_true).argmax(1), (xv @ w_true).argmax(1)

    def train(p, h):
        return F.cross_entropy(x @ p["w"], y) + 0.5 * h["log_l"].exp() * (p["w"] ** 2).sum()

    def val(p, h):
        return 1 - soft_f1(xv @ p["w"], yv)

    log_l = torch.tensor(-1.0, dtype=D64)
    w = _train_to_optimum(train, {"w": torch.zeros(4, 3, dtype=D64)}, log_l, key="log_l")
    got = implicit_hypergradient(train, val, w, {"log_l": log_l})
    eps = 1e-5
    vals = [float(val(_train_to_optimum(train, w, log_l + s * eps, lbfgs=False, key="log_l"), {})) for s in (1, -1)]
    assert float(got.grads["log_l"]) == pytest.approx((vals[0] - vals[1]) / (2 * eps), rel=1e-4)


def test_loss_weights_and_noise_augmentation_carry_gradients():
    from itero.hypergrad import LossWeights, NoiseAugment

    lw = LossWeights(["main", "aux"], init=0.5)
    total = lw.combine({"main": torch.tensor(2.0), "aux": torch.tensor(4.0)})
    assert float(total) == pytest.approx(3.0)
    (g,) = torch.autograd.grad(total, lw.log_w)
    assert g.tolist() == pytest.approx([1.0, 2.0])  # d/dlog_w of exp(log_w) * loss = weight * loss
    aug = NoiseAugment(sigma=0.5)
    torch.manual_seed(0)
    out = aug(torch.zeros(10_000))
    assert float(out.std()) == pytest.approx(0.5, rel=0.05)
    (g,) = torch.autograd.grad((out**2).mean(), aug.log_sigma)
    assert float(g) == pytest.approx(2 * 0.25, rel=0.1)  # d/dlog_sigma E[(sigma eps)^2] = 2 sigma^2
    aug.eval()
    assert torch.equal(aug(torch.ones(3)), torch.ones(3))
