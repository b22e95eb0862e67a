"""Gradient-based bi-level optimisation: tune continuous hyper-parameters inside one training run.

- :func:`implicit_hypergradient` — implicit function theorem at a trained optimum, inverse-Hessian-vector product
  by conjugate gradient or a truncated Neumann series (with a divergence check);
- :func:`unrolled_hypergradient` — backpropagation through K differentiable SGD steps;
- :class:`HypergradientLR` — online hypergradient descent of the learning rate around any torch optimiser;
- hyper-parameters as tensors: :class:`LogWeightDecay` (global, per layer, per tensor), :class:`ExampleWeights`
  (data reweighting), :class:`LossWeights`, :class:`ConcreteDropout`, :class:`NoiseAugment`;
- :func:`record_hparams` — report the tuned values' trajectory on an itero trial and record their final values
  as the trial's parameters (the hybrid: the study's sampler picks the discrete ones).

Everything works on parameter dicts through ``torch.func.functional_call``, so any ``nn.Module`` (buffers
included) fits; the inner loop of the implicit route can use any torch optimiser.
"""

from itero.hypergrad._hparams import ConcreteDropout, ExampleWeights, LogWeightDecay, LossWeights, NoiseAugment
from itero.hypergrad._implicit import (
    Hypergradient,
    NegativeCurvatureError,
    NeumannDivergenceError,
    conjugate_gradient,
    hvp_fn,
    implicit_hypergradient,
    largest_eigenvalue,
    neumann,
)
from itero.hypergrad._online import HypergradientLR
from itero.hypergrad._study import record_hparams
from itero.hypergrad._tree import Params, buffers_of, params_of
from itero.hypergrad._unrolled import unrolled_hypergradient

__all__ = [
    "ConcreteDropout",
    "ExampleWeights",
    "Hypergradient",
    "HypergradientLR",
    "LogWeightDecay",
    "LossWeights",
    "NegativeCurvatureError",
    "NeumannDivergenceError",
    "NoiseAugment",
    "Params",
    "buffers_of",
    "conjugate_gradient",
    "hvp_fn",
    "implicit_hypergradient",
    "largest_eigenvalue",
    "neumann",
    "params_of",
    "record_hparams",
    "unrolled_hypergradient",
]
