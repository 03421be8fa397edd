"""One registry for every algorithm: ``register(name)``, ``make(name, **cfg)``, ``available()``.

An algorithm is a class with a ``config_cls`` dataclass; ``make`` builds the config from
keyword options (every constant of a paper is such an option, with the paper's default)
and fails with the list of valid names or options when given something it does not know.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

_REGISTRY: dict[str, type] = {}

T = TypeVar("T", bound=type)


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make ``cls`` available as ``algos.make(name)``."""

    def decorator(cls: T) -> T:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"algorithm {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        if not dataclasses.is_dataclass(getattr(cls, "config_cls", None)):
            raise TypeError(f"{cls.__qualname__} needs a dataclass `config_cls` to be registered")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def available() -> list[str]:
    """Names accepted by :func:`make`, sorted."""
    return sorted(_REGISTRY)


def options(name: str) -> dict[str, Any]:
    """The options of algorithm ``name`` with their defaults."""
    cls = _lookup(name)
    return {f.name: _default(f) for f in dataclasses.fields(cls.config_cls) if f.init}


def make(name: str, **cfg: Any) -> Any:
    """Build algorithm ``name``; ``cfg`` overrides fields of its config dataclass."""
    cls = _lookup(name)
    valid = [f.name for f in dataclasses.fields(cls.config_cls) if f.init]
    unknown = sorted(set(cfg) - set(valid))
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown} for algorithm {name!r}; valid options: {', '.join(valid)}"
        )
    return cls(cls.config_cls(**cfg))


def _lookup(name: str) -> type:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown algorithm {name!r}; available: {', '.join(available())}") from None


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING
