"""The runtime operators: one module per physical operator, plain Python over Arrow.

An operator module registers its class for a physical node kind with the
:func:`operator` decorator (``@operator(PSample)``); :func:`build_operator` makes the
runtime operator for one instance of a physical plan node. Every public module of
this package is imported on first use, so a new operator is its module alone.
Exchanges are not operators: the runtime wires them between stages.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from dataflow.errors import UnsupportedError

from .base import Morsel, Operator, TaskContext

_OPERATORS: dict[str, type[Operator]] = {}
_loaded = False
_T = TypeVar("_T", bound=type[Operator])


def operator(node_cls: Any) -> Callable[[_T], _T]:
    """Register the decorated :class:`Operator` class as the runtime operator of the
    physical node class ``node_cls``."""
    kind = node_cls.model_fields["kind"].default

    def register(cls: _T) -> _T:
        other = _OPERATORS.get(kind)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise TypeError(f"plan node kind {kind!r} has two operators: {other.__name__} and {cls.__name__}")
        _OPERATORS[kind] = cls
        return cls

    return register


def registered() -> dict[str, type[Operator]]:
    """Physical node kind -> its operator class, after importing every operator module."""
    global _loaded
    if not _loaded:
        for info in pkgutil.iter_modules(__path__):
            if not info.name.startswith("_") and info.name != "base":
                importlib.import_module(f"{__name__}.{info.name}")
        _loaded = True
    return dict(_OPERATORS)


def build_operator(node: Any, ctx: TaskContext, node_id: str = "0") -> Operator:
    """The runtime operator for one instance of physical plan node ``node``."""
    kind = getattr(node, "kind", None)
    if kind == "exchange":
        raise UnsupportedError(
            "an Exchange is not an operator: the runtime connects stages through it "
            "(split the plan at exchanges before building operators)"
        )
    cls = _OPERATORS.get(kind) or registered().get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise UnsupportedError(f"no runtime operator for plan node kind {kind!r}")
    return cls(node, ctx, node_id)


__all__ = ["Morsel", "Operator", "TaskContext", "build_operator", "operator", "registered"]
