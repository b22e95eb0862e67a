"""Outer solvers: propose hyper-parameters for new trials from the finished history.

``sampler=`` accepts an instance, a name (``"tpe"``) or a dict (``{"name": "tpe", "seed": 0}``)::

    >>> make_sampler({"name": "random", "seed": 1})
    Random(seed=1)
"""

from __future__ import annotations

from typing import Any

from itero._spec import build_from_spec
from itero.samplers._base import BaseSampler, intersection_space
from itero.samplers._cmaes import CMAES
from itero.samplers._evolution import RegularizedEvolution
from itero.samplers._gp import GP
from itero.samplers._grid import Grid
from itero.samplers._nsga2 import NSGA2
from itero.samplers._parego import ParEGO
from itero.samplers._random import Random
from itero.samplers._reinforce import Reinforce
from itero.samplers._sobol import Sobol
from itero.samplers._tpe import TPE
from itero.samplers._transfer import Source, Transfer

SAMPLERS: dict[str, type[BaseSampler]] = {
    "random": Random,
    "grid": Grid,
    "sobol": Sobol,
    "tpe": TPE,
    "cmaes": CMAES,
    "evolution": RegularizedEvolution,
    "reinforce": Reinforce,
    "nsga2": NSGA2,
    "parego": ParEGO,
    "gp": GP,
}


def make_sampler(spec: Any, where: str = "sampler") -> BaseSampler:
    """A sampler from an instance, a name or a ``{"name": ..., **options}`` mapping."""
    return build_from_spec(spec, SAMPLERS, BaseSampler, where)


__all__ = [
    "CMAES",
    "GP",
    "NSGA2",
    "SAMPLERS",
    "TPE",
    "BaseSampler",
    "Grid",
    "ParEGO",
    "Random",
    "RegularizedEvolution",
    "Reinforce",
    "Sobol",
    "Source",
    "Transfer",
    "intersection_space",
    "make_sampler",
]
