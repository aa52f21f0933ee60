"""Name resolution: which plan column a SQL column reference means.

A :class:`Scope` is the FROM clause of one SELECT: its relations (tables, derived
tables, CTE references), each with visible column names and the plan column names
they map to. Plan column names stay the bare column names unless two relations of
the same query share one (``nation n1, nation n2``): the later one is renamed to
``n2.n_name``. A reference the scope cannot resolve is looked up in the enclosing
query's scope, which makes it *correlated*: it comes back as
``ColumnRef("\\x00outer:<name>")``, which the subquery planner turns into a join.

>>> s = Scope()
>>> _ = s.add_relation("n1", ["n_name"])
>>> _ = s.add_relation("n2", ["n_name"])
>>> s.resolve(["n2", "n_name"]).name
'n2.n_name'
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import AmbiguousColumnError, UnknownColumnError, UnknownTableError, UnsupportedError
from ..expr import ColumnRef, ExprNode

OUTER_PREFIX = "\x00outer:"


def outer_ref(name: str) -> ColumnRef:
    """A reference to column ``name`` of the enclosing query's plan."""
    return ColumnRef(name=OUTER_PREFIX + name)


def is_outer(name: str) -> bool:
    return name.startswith(OUTER_PREFIX)


def outer_name(name: str) -> str:
    return name[len(OUTER_PREFIX) :]


def fresh_name(base: str, taken: set[str] | frozenset[str]) -> str:
    """``base``, else ``base_1``, ``base_2``, ...: the first not in ``taken``. DuckDB tells
    repeated output names apart so; the planner names its own columns the same way.

    >>> fresh_name("a", {"a", "a_1"})
    'a_2'
    """
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


@dataclass
class Column:
    """A column as SQL sees it (``name``) and as the plan names it (``internal``)."""

    name: str
    internal: str


@dataclass
class Relation:
    """One item of a FROM clause, known by ``alias`` (its alias or table name)."""

    alias: str
    columns: list[Column]

    def find(self, name: str) -> list[Column]:
        low = name.lower()
        return [c for c in self.columns if c.name.lower() == low]


@dataclass
class Scope:
    """The relations visible to one SELECT, and the enclosing query's scope.

    ``allow_outer`` says whether a reference to the enclosing query is allowed here
    (the subquery planner decorrelates WHERE conjuncts only); ``taken`` holds every
    plan column name used so far, so new relations avoid collisions.
    """

    parent: Scope | None = None
    relations: list[Relation] = field(default_factory=list)
    # Columns merged by JOIN ... USING: an unqualified reference means this expression.
    merged: dict[str, ExprNode] = field(default_factory=dict)
    # Plan columns that SELECT * leaves out (the right side of JOIN ... USING).
    star_skip: set[str] = field(default_factory=set)
    taken: set[str] = field(default_factory=set)
    allow_outer: bool = False
    # the scope of a derived table (a subquery in FROM), which may not be correlated
    derived: bool = False
    correlated: bool = False
    what: str = "the query"

    def child(self, allow_outer: bool = False) -> Scope:
        """The scope of a subquery nested in this one."""
        return Scope(parent=self, taken=set(self.taken), allow_outer=allow_outer)

    # -- building ------------------------------------------------------------------------

    def fresh(self, base: str) -> str:
        """A plan column name based on ``base`` that no relation uses yet; reserves it."""
        name = fresh_name(base, self.taken)
        self.taken.add(name)
        return name

    def add_relation(self, alias: str, names: list[str]) -> Relation:
        """Add a relation with visible column ``names``; returns it with the plan name
        chosen for each column (bare, or ``alias.name`` on a collision)."""
        low = alias.lower()
        if any(r.alias.lower() == low for r in self.relations):
            raise UnsupportedError(
                f"the table name {alias!r} appears more than once in FROM; give each a different alias"
            )
        cols = []
        for n in names:
            internal = n if n not in self.taken else self.fresh(f"{alias}.{n}")
            self.taken.add(internal)
            cols.append(Column(n, internal))
        rel = Relation(alias, cols)
        self.relations.append(rel)
        return rel

    # -- resolving -----------------------------------------------------------------------

    def visible_names(self) -> list[str]:
        names = [c.name for r in self.relations for c in r.columns]
        return list(dict.fromkeys(names))

    def resolve(self, parts: list[str]) -> ExprNode:
        """The expression for a column reference ``[table.]column``."""
        found = self._lookup(parts)
        if found is None:
            raise self._unknown(parts)
        node, depth = found
        if depth == 0:
            return node
        assert isinstance(node, ColumnRef)
        if depth > 1:
            raise UnsupportedError(
                f"column {'.'.join(parts)!r} refers to a query two or more levels out; "
                "only references to the directly enclosing query are supported"
            )
        if self.derived:
            raise UnsupportedError(
                f"the reference {'.'.join(parts)!r} to the enclosing query in a subquery in FROM: "
                "a derived table may not refer to the query around it (LATERAL is not supported)"
            )
        if not self.allow_outer:
            raise UnsupportedError(
                f"the correlated reference {'.'.join(parts)!r} in {self.what}: a subquery may refer to "
                "the enclosing query only in its WHERE clause"
            )
        self.correlated = True
        return outer_ref(node.name)

    def _lookup(self, parts: list[str]) -> tuple[ExprNode, int] | None:
        name = parts[-1]
        if len(parts) == 1:
            low = name.lower()
            if low in self.merged:
                return self.merged[low], 0
            hits = [(r, c) for r in self.relations for c in r.find(name)]
            if len(hits) == 1:
                return ColumnRef(name=hits[0][1].internal), 0
            if len(hits) > 1:
                raise AmbiguousColumnError(name, [f"{r.alias}.{c.name}" for r, c in hits])
        else:
            qual = parts[-2].lower()
            rels = [r for r in self.relations if r.alias.lower() == qual]
            if rels:
                cols = rels[0].find(name)
                if not cols:
                    raise UnknownColumnError(
                        f"{parts[-2]}.{name}", [f"{rels[0].alias}.{c.name}" for c in rels[0].columns]
                    )
                return ColumnRef(name=cols[0].internal), 0
        if self.parent is None:
            return None
        up = self.parent._lookup(parts)
        if up is None:
            return None
        return up[0], up[1] + 1

    def _unknown(self, parts: list[str]) -> Exception:
        if len(parts) >= 2:
            aliases: list[str] = []
            s: Scope | None = self
            while s is not None:
                aliases += [r.alias for r in s.relations]
                s = s.parent
            return UnknownTableError(parts[-2], aliases)
        cands: list[str] = []
        s = self
        while s is not None:
            cands += s.visible_names()
            s = s.parent
        return UnknownColumnError(parts[-1], list(dict.fromkeys(cands)))

    def display_name(self, internal: str) -> str:
        """The SQL name (``alias.column`` when not unique) of a plan column, for messages."""
        for r in self.relations:
            for c in r.columns:
                if c.internal == internal:
                    unique = sum(1 for r2 in self.relations for _ in r2.find(c.name)) == 1
                    return c.name if unique else f"{r.alias}.{c.name}"
        return internal
