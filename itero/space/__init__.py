"""Search spaces: parameter kinds, their unit-cube encoding, and spaces declared as data."""

from itero.space._distributions import (
    CategoricalChoice,
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    check_compatible,
    describe_distribution,
    distribution_from_dict,
)
from itero.space._names import check_names, named_settings
from itero.space._narrow import describe_narrow, holds, is_active, narrow_distribution, outside_reason, same_value
from itero.space._yaml import apply_override, parse_distribution, parse_space

__all__ = [
    "CategoricalChoice",
    "CategoricalDistribution",
    "Distribution",
    "FloatDistribution",
    "IntDistribution",
    "apply_override",
    "check_compatible",
    "check_names",
    "describe_distribution",
    "describe_narrow",
    "distribution_from_dict",
    "holds",
    "is_active",
    "named_settings",
    "narrow_distribution",
    "outside_reason",
    "parse_distribution",
    "parse_space",
    "same_value",
]
