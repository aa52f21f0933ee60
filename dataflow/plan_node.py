"""What logical and physical plan nodes share: immutability, equality by fields,
children declared by field name, and a registry of node kinds.

Every concrete node class names its kind in a ``kind`` literal field and is entered
in its family's registry (``LogicalNode.kinds``, ``PhysicalNode.kinds``) when the
class is created, so the plan unions (the pydantic discriminated unions that load
plans from JSON) are built from the registry rather than from hand-written lists.

>>> from typing import Literal
>>> class Node(PlanNode):
...     kinds = {}
>>> class Leaf(Node):
...     kind: Literal["leaf"] = "leaf"
>>> sorted(Node.kinds)
['leaf']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from typing import Annotated, Any, ClassVar, Protocol, Union

from pydantic import BaseModel, ConfigDict, TypeAdapter
from pydantic import Field as _PField

from .types import Schema


class RowEstimates(Protocol):
    """What a node's ``estimate_rows`` may ask of the optimizer's estimator
    (``dataflow.optimizer.statistics.Estimator``): plan nodes name the estimate of their
    kind, the estimator holds the statistics and memoizes."""

    def rows(self, plan: Any) -> float: ...
    def scan_rows(self, source: Any, table_schema: Schema, filters: tuple[Any, ...]) -> float: ...
    def filter_rows(self, input: Any, predicate: Any) -> float: ...
    def groups(self, plan: Any, keys: list[Any], unknown_exp: float = 0.5) -> float: ...
    def group_rows(self, rows: float, keys: int) -> float: ...
    def join_rows(self, join: Any) -> float: ...
    def combine_join(
        self, how: str, left: float, right: float, dl: float | None, dr: float | None, condition: float,
        keyed: bool = True,
    ) -> float: ...
    def selectivity(self, pred: Any, plan: Any = None) -> float: ...


def _hashable(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


class PlanNode(BaseModel):
    """Base of plan nodes. A family base (``LogicalNode``, ``PhysicalNode``) sets its
    own ``kinds`` dict in its class body; concrete subclasses register into it."""

    model_config = ConfigDict(frozen=True)

    # the family's registry: kind -> class (each family base sets its own dict)
    kinds: ClassVar[dict[str, type[PlanNode]]] = {}
    # the fields that hold inputs, in order; a field may hold one plan or a tuple of
    # plans. Default: ``("input",)`` when the class has an ``input`` field, else none.
    child_fields: ClassVar[tuple[str, ...]] = ()
    # loads the family's plans from JSON; set on the family base by ``complete``
    json_adapter: ClassVar[TypeAdapter[Any]]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "child_fields" not in cls.__dict__:
            cls.child_fields = ("input",) if "input" in cls.model_fields else ()
        field = cls.model_fields.get("kind")
        if field is None or not isinstance(field.default, str):
            return  # an abstract base
        kind = field.default
        other = cls.kinds.get(kind)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise TypeError(f"plan node kind {kind!r} is declared by both {other.__name__} and {cls.__name__}")
        cls.kinds[kind] = cls

    def __eq__(self, other: object) -> bool:
        # Compare the fields only. pydantic's own __eq__ compares __dict__ first, which
        # here also holds the cached ``schema``, and on a difference compares the fields
        # again: twice per level, 2**depth for two plans that differ deep down.
        if self is other:
            return True
        if type(self) is not type(other):
            return False
        return all(getattr(self, f) == getattr(other, f) for f in type(self).model_fields)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(_hashable(getattr(self, f)) for f in type(self).model_fields)))

    @classmethod
    def kinds_named(cls) -> list[str]:
        """The class names of the family's node kinds (for ``__all__``)."""
        return [k.__name__ for k in cls.kinds.values()]

    def children(self) -> tuple[Any, ...]:
        """The inputs, in the order of :attr:`child_fields`."""
        out: list[Any] = []
        for name in self.child_fields:
            v = getattr(self, name)
            if isinstance(v, tuple):
                out.extend(v)
            elif v is not None:
                out.append(v)
        return tuple(out)

    def with_children(self, children: tuple[Any, ...]) -> Any:
        """A copy over new inputs (as many as :meth:`children` returns)."""
        if not self.child_fields:
            assert not children
            return self
        update: dict[str, Any] = {}
        rest = list(children)
        for name in self.child_fields:
            if isinstance(getattr(self, name), tuple):
                # a tuple field takes what the single fields after it leave
                after = len(self.child_fields) - 1 - self.child_fields.index(name)
                take = len(rest) - after
                update[name], rest = tuple(rest[:take]), rest[take:]
            else:
                update[name], rest = rest[0], rest[1:]
        assert not rest, "with_children got more inputs than the node has"
        return self.replace(**update)

    def replace(self, **update: Any) -> Any:
        """A copy with some fields changed (validated; cached properties not carried over)."""
        values = {name: getattr(self, name) for name in type(self).model_fields}
        values.update(update)
        return type(self).model_validate(values)

    @cached_property
    def schema(self) -> Schema:
        """The node's output columns."""
        return self._schema()

    def _schema(self) -> Schema:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for ``explain``."""
        return type(self).__name__

    def column_names(self) -> list[str]:
        """The names of the output columns."""
        return [f.name for f in self.schema]

    @classmethod
    def plan_union(cls) -> Any:
        """The discriminated union of every kind registered in this family so far
        (the type of a plan field), to be assigned to the family module's plan name."""
        return Annotated[Union[tuple(cls.kinds.values())], _PField(discriminator="kind")]

    @classmethod
    def complete(cls, union: Any) -> None:
        """Resolve every kind's plan fields (once the union has its module name) and
        make :meth:`load` ready to load plans of this family from JSON."""
        for kind in cls.kinds.values():
            kind.model_rebuild()
        cls.json_adapter = TypeAdapter(union)

    @classmethod
    def load(cls, data: str | bytes) -> Any:
        """Load a plan of this family (any of its kinds) from its JSON."""
        return cls.json_adapter.validate_json(data)

    def tree(self, line: Callable[[Any], str] | None = None, indent: int = 0) -> str:
        """The plan as an indented tree, one node a line: ``line(node)``, by default
        the node's :meth:`describe`. Walked without recursion (plans can be deep)."""
        lines: list[str] = []
        stack: list[tuple[PlanNode, int]] = [(self, indent)]
        while stack:
            node, depth = stack.pop()
            lines.append("  " * depth + (node.describe() if line is None else line(node)))
            stack.extend((c, depth + 1) for c in reversed(node.children()))
        return "\n".join(lines)

    @classmethod
    def overrides(cls, method: str, base: type) -> bool:
        """Whether this class defines ``method`` itself rather than inheriting ``base``'s."""
        return getattr(cls, method) is not getattr(base, method)


def join_schema(left: Schema, right: Schema, how: str) -> Schema:
    """A join's output columns: the left's then the right's (the left's only for semi
    and anti joins, the right's only for the right semi and anti joins of the physical
    plan), those of a side that may be missing made nullable."""
    if how in ("semi", "anti"):
        return left
    if how in ("right_semi", "right_anti"):
        return right
    if how in ("right", "full"):
        left = tuple(f.replace(nullable=True) for f in left)
    if how in ("left", "full"):
        right = tuple(f.replace(nullable=True) for f in right)
    return left + right


def limit_rows(rows: float, limit: int | None, offset: int) -> float:
    """Rows left of ``rows`` after skipping ``offset`` and keeping at most ``limit``
    (the logical and the physical limit's estimate)."""
    inner = max(0.0, rows - offset)
    return inner if limit is None else min(inner, float(limit))


def walk(plan: Any) -> Iterator[Any]:
    """Every node of a plan (logical or physical), parents first."""
    yield plan
    for c in plan.children():
        yield from walk(c)


__all__ = ["PlanNode", "RowEstimates", "join_schema", "limit_rows", "walk"]
