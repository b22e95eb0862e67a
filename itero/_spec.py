"""Build a component from the forms users write: an instance, a name, or ``{"name": ..., **options}``."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any, TypeVar

from itero.exceptions import ConfigError

T = TypeVar("T")


def build_from_spec(spec: Any, registry: Mapping[str, type[T]], base: Any, where: str) -> T:
    """``where`` names the setting in error messages (``sampler``, ``scheduler``)."""
    if isinstance(spec, base):
        return spec
    if isinstance(spec, str):
        name, options = spec, {}
    elif isinstance(spec, Mapping):
        if "name" not in spec:
            raise ConfigError(f"{where}: missing key 'name'; expected one of {sorted(registry)}")
        name = spec["name"]
        options = {k: v for k, v in spec.items() if k != "name"}
    else:
        raise ConfigError(
            f"{where}: expected a name, a mapping with 'name', or a {base.__name__} instance, got {spec!r}"
        )
    if not isinstance(name, str) or name.lower() not in registry:
        raise ConfigError(f"{where}.name: unknown {where} {name!r}; expected one of {sorted(registry)}")
    cls = registry[name.lower()]
    params = inspect.signature(cls.__init__).parameters
    allowed = [p for p in params if p != "self"]
    for key in options:
        if key not in allowed:
            raise ConfigError(f"{where}.{key}: {name!r} has no option {key!r}; allowed options are {allowed}")
    try:
        return cls(**options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: invalid options for {name!r}: {exc}") from None


def spec_of(obj: Any) -> dict[str, Any]:
    """The ``{"name": ..., **options}`` form of a component whose constructor stores its arguments as attributes
    of the same name (scikit-learn style), so that a stored study rebuilds the same sampler and scheduler."""
    spec: dict[str, Any] = {"name": obj.name}
    for key in inspect.signature(type(obj).__init__).parameters:
        if key != "self" and hasattr(obj, key):
            spec[key] = getattr(obj, key)
    return spec


def options_repr(obj: Any) -> str:
    """``Name(seed=..., option=value, ...)``: the seed and the options that differ from their defaults."""
    parts = [f"seed={obj.seed!r}"]
    for key, param in inspect.signature(type(obj).__init__).parameters.items():
        if key not in ("self", "seed") and getattr(obj, key) != param.default:
            parts.append(f"{key}={getattr(obj, key)!r}")
    return f"{type(obj).__name__}({', '.join(parts)})"
