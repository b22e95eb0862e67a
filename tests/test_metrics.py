"""itero.metrics: exact metrics against scikit-learn, surrogates against the exact metrics, and bad input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

torch = pytest.importorskip("torch")
sk = pytest.importorskip("sklearn.metrics")

from itero.metrics import (  # noqa: E402
    accuracy,
    confusion_matrix,
    ece,
    f1,
    precision,
    recall,
    soft_accuracy,
    soft_ece,
    soft_f1,
)
from itero.metrics._common import Average  # noqa: E402

AVERAGES: list[Average] = ["macro", "micro", "weighted"]
EXACT = {"precision": (precision, 0), "recall": (recall, 1), "f1": (f1, 2)}


def _data(seed: int, n: int = 60, n_classes: int = 4, missing: int | None = None, binary: bool = False):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 1 if binary else n_classes, generator=g) * 2
    labels = torch.randint(0, 2 if binary else n_classes, (n,), generator=g)
    if missing is not None:  # a class absent from the labels (it may still be predicted)
        labels[labels == missing] = (missing + 1) % n_classes
    return logits, labels


def _averages(binary: bool) -> list[Average]:
    return [*AVERAGES, "binary"] if binary else AVERAGES


def _predicted(logits):
    return (logits.reshape(-1) > 0).long() if logits.ndim == 1 or logits.shape[1] == 1 else logits.argmax(dim=1)


CASES = [
    *[dict(seed=s) for s in range(4)],
    dict(seed=4, n_classes=6, n=25),  # some classes likely neither in labels nor predicted
    dict(seed=5, missing=2),
    dict(seed=6, missing=0, n_classes=3),
    dict(seed=7, binary=True),
    dict(seed=8, binary=True, n=7),
]


@pytest.mark.parametrize("case", CASES)
def test_exact_metrics_equal_sklearn(case):
    logits, labels = _data(**case)
    y, pred = labels.numpy(), _predicted(logits).numpy()
    n_classes = 2 if case.get("binary") else case.get("n_classes", 4)
    assert accuracy(logits, labels) == pytest.approx(sk.accuracy_score(y, pred), abs=1e-12)
    cm = sk.confusion_matrix(y, pred, labels=list(range(n_classes)))
    assert confusion_matrix(logits, labels).numpy().tolist() == cm.tolist()
    for name, (fn, index) in EXACT.items():
        for average in _averages(binary=n_classes == 2):
            expected = sk.precision_recall_fscore_support(y, pred, average=average, zero_division=0)[index]
            assert fn(logits, labels, average) == pytest.approx(expected, abs=1e-12), (name, average)
        per_class = sk.precision_recall_fscore_support(y, pred, labels=list(range(n_classes)), zero_division=0)
        got = fn(logits, labels, average=None)
        assert got.shape == (n_classes,) and got.dtype == torch.float64
        assert got.numpy() == pytest.approx(per_class[index], abs=1e-12), name


def test_macro_leaves_out_classes_absent_from_labels_and_predictions():
    logits = torch.tensor([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [3.0, 0.0, 0.0]])
    labels = torch.tensor([0, 1, 1])  # class 2: never a label, never predicted
    assert recall(logits, labels) == pytest.approx((1.0 + 0.5) / 2)
    assert recall(logits, labels, average=None).tolist() == [1.0, 0.5, 0.0]


def test_probs_input_gives_the_same_metrics():
    logits, labels = _data(11, n_classes=5)
    p = torch.softmax(logits, dim=1)
    assert accuracy(p, labels, probs=True) == accuracy(logits, labels)
    assert f1(p, labels, "weighted", probs=True) == f1(logits, labels, "weighted")
    assert ece(p, labels, probs=True) == pytest.approx(ece(logits, labels), abs=1e-6)
    z, y = _data(12, binary=True)
    assert precision(torch.sigmoid(z), y, "binary", probs=True) == precision(z, y, "binary")
    assert ece(torch.sigmoid(z).reshape(-1), y, probs=True) == pytest.approx(ece(z, y), abs=1e-6)


def test_ece_equals_hand_computation():
    probs = torch.tensor(
        [[0.9, 0.05, 0.05], [0.25, 0.7, 0.05], [0.35, 0.15, 0.5], [0.45, 0.1, 0.45], [0.3, 0.3, 0.4]],
        dtype=torch.float64,
    )
    labels = torch.tensor([0, 0, 2, 0, 1])
    # confidences 0.9 (right), 0.7 (wrong), 0.5 (right), 0.45 (right: the first of two maxima), 0.4 (wrong).
    # 5 bins of width 0.2: (0.8, 1] {0.9}; (0.6, 0.8] {0.7}; (0.4, 0.6] {0.5, 0.45}; (0.2, 0.4] {0.4}
    expected = (abs(1 - 0.9) + abs(0 - 0.7) + abs((1 - 0.5) + (1 - 0.45)) + abs(0 - 0.4)) / 5
    assert ece(probs, labels, n_bins=5, probs=True) == pytest.approx(expected, abs=1e-12)
    # one bin: |accuracy - mean confidence| over everything
    assert ece(probs, labels, n_bins=1, probs=True) == pytest.approx(abs(3 / 5 - (0.9 + 0.7 + 0.5 + 0.45 + 0.4) / 5))
    perfect = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert ece(perfect, torch.tensor([0, 1]), probs=True) == 0.0


SOFT: dict[str, Callable[..., Any]] = {
    "soft_accuracy": lambda x, y, t=1.0: soft_accuracy(x, y, temperature=t),
    **{f"soft_f1_{a}": (lambda x, y, t=1.0, a=a: soft_f1(x, y, a, temperature=t)) for a in AVERAGES},
    "soft_ece": lambda x, y, t=0.1: soft_ece(x, y, n_bins=10, temperature=t),
}


@pytest.mark.parametrize("name", SOFT)
@pytest.mark.parametrize("binary", [False, True])
def test_soft_metrics_are_in_unit_interval_with_finite_nonzero_gradients(name, binary):
    logits, labels = _data(21, n=40, binary=binary)
    logits.requires_grad_(True)
    value = SOFT[name](logits, labels)
    assert value.ndim == 0 and 0.0 <= value.item() <= 1.0
    (grad,) = torch.autograd.grad(value, logits)
    assert grad.shape == logits.shape
    assert torch.isfinite(grad).all() and grad.abs().sum() > 1e-6


@pytest.fixture
def one_thread():
    """Tiny tensors: waking a busy machine's intra-op thread pool costs more than the work (up to ~1 s a gradcheck)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("name", SOFT)
def test_soft_metrics_pass_gradcheck(name, one_thread):
    logits, labels = _data(31, n=8, n_classes=3)
    logits = logits.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: SOFT[name](x, labels), (logits,))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("binary", [False, True])
def test_soft_accuracy_and_f1_tend_to_exact_as_logits_scale_up(seed, binary):
    logits, labels = _data(40 + seed, n=50, binary=binary)
    big = logits * 1e3
    assert float(soft_accuracy(big, labels)) == pytest.approx(accuracy(logits, labels), abs=1e-6)
    assert float(soft_accuracy(logits, labels, temperature=1e-3)) == pytest.approx(accuracy(logits, labels), abs=1e-6)
    for average in _averages(binary=binary):
        assert float(soft_f1(big, labels, average)) == pytest.approx(f1(logits, labels, average), abs=1e-6), average
    assert abs(float(soft_accuracy(logits, labels)) - accuracy(logits, labels)) > 1e-3  # not trivially equal


def test_soft_f1_macro_tends_to_exact_with_a_class_missing_from_labels():
    logits, labels = _data(50, missing=1)
    logits[:, 1] -= 100  # class 1: neither a label nor predicted
    assert float(soft_f1(logits * 1e3, labels)) == pytest.approx(f1(logits, labels), abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_soft_ece_tends_to_exact_as_temperature_goes_to_zero(seed):
    logits, labels = _data(60 + seed, n=200, n_classes=3)
    logits = logits.double()
    confidence, predicted = torch.softmax(logits, dim=1).max(dim=1)
    # right below a confidence of 0.6 (a bin edge), wrong above it: the per-bin gaps change sign there, so
    # spreading samples over neighbouring bins changes the value (with gaps of one sign it would not)
    labels = torch.where(confidence < 0.6, predicted, (predicted + 1) % 3)
    exact = ece(logits, labels, n_bins=15)
    errors = [abs(float(soft_ece(logits, labels, n_bins=15, temperature=t)) - exact) for t in (1.0, 1e-2, 1e-5)]
    assert errors[0] > 1e-2 and errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-6


def test_binary_column_and_vector_are_the_same_problem():
    z, y = _data(70, binary=True)
    two = torch.cat([torch.zeros_like(z), z], dim=1)
    assert f1(z, y, "binary") == f1(z.reshape(-1), y, "binary") == f1(two, y, "binary")
    assert float(soft_f1(z, y)) == pytest.approx(float(soft_f1(two, y)))
    assert float(soft_ece(z.reshape(-1), y)) == pytest.approx(float(soft_ece(two, y)))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: accuracy(torch.zeros(5, 3), torch.zeros(4, dtype=torch.long)), r"shape \(5, 3\).*shape \(4,\)"),
        (lambda: f1(torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long)), r"labels of shape \(4, 1\)"),
        (lambda: soft_f1(torch.zeros(2, 3, 1), torch.zeros(2, dtype=torch.long)), r"shape \(2, 3, 1\)"),
        (lambda: precision(torch.zeros(4, 3), torch.tensor([0, 1, 3, 2])), r"\[0, 3\).*from 0 to 3"),
        (lambda: soft_accuracy(torch.zeros(2, 3), torch.tensor([-1, 0])), r"\[0, 3\).*from -1 to 0"),
        (lambda: recall(torch.zeros(3), torch.tensor([0, 2, 1])), r"\[0, 2\)"),
        (lambda: recall(torch.zeros(2, 3), torch.tensor([0.0, 1.0])), "integer tensor"),
        (lambda: accuracy(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)), "no samples"),
        (lambda: f1(torch.tensor([[0.0, float("nan")]]), torch.tensor([0])), r"shape \(1, 2\) contain NaN"),
        (lambda: f1(torch.zeros(2, 3), torch.tensor([0, 1]), "mean"), "average must be one of.*'mean'"),  # type: ignore[call-overload]
        (lambda: soft_f1(torch.zeros(2, 3), torch.tensor([0, 1]), None), "average must be one of.*None"),  # type: ignore[arg-type]
        (lambda: f1(torch.zeros(2, 3), torch.tensor([0, 1]), "binary"), "'binary' needs 2 classes.* 3"),
        (lambda: ece(torch.ones(2, 3), torch.tensor([0, 1]), probs=True), "sum to 1"),
        (lambda: ece(torch.zeros(2, 3), torch.tensor([0, 1]), n_bins=0), "n_bins"),
        (lambda: soft_ece(torch.zeros(2, 3), torch.tensor([0, 1]), temperature=0.0), "temperature"),
        (lambda: soft_accuracy(torch.zeros(2, 3), torch.tensor([0, 1]), temperature=-1.0), "temperature"),
    ],
)
def test_bad_input_raises_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()
