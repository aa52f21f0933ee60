"""The optimizer: ordered rules, each a pure function from plan to plan.

``optimize`` runs the logical rules, plans physically, then runs the physical rules.
The driver wraps every rule the same way (as DuckDB's does): skip it if disabled,
time it, and check the plan after it.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dataflow import logical as L
from dataflow import physical as P
from dataflow.errors import PlanError

from .cost import annotate
from .physical_planner import PlannerConfig, to_physical
from .rules import LOGICAL_RULES
from .rules.check_plan import check_plan
from .rules.choose_parallelism import choose_parallelism
from .rules.enforce_distribution import enforce_distribution

ALWAYS_ON = {"plan_physical", "enforce_distribution", "check_plan"}


def physical_rules(config: OptimizerConfig) -> list[tuple[str, Callable[[P.PhysicalPlan], P.PhysicalPlan]]]:
    """The physical rules in order, bound to ``config``."""
    rules: list[tuple[str, Callable[[P.PhysicalPlan], P.PhysicalPlan]]] = []
    if config.adaptive_parallelism:
        rules.append(("choose_parallelism", functools.partial(choose_parallelism, max_dop=config.dop)))
    rules.append(("enforce_distribution", enforce_distribution))
    rules.append(("annotate_costs", annotate))
    return rules


PHYSICAL_RULE_NAMES = ["choose_parallelism", "enforce_distribution", "annotate_costs"]


@dataclass(frozen=True)
class OptimizerConfig:
    """How to optimize: the degree of parallelism and which rules are off."""

    dop: int = 1
    disabled_rules: frozenset[str] = frozenset()
    broadcast_rows: int = 2_000_000
    # let the cost model choose each stage's degree, up to ``dop``; when False every
    # stage runs ``dop`` instances (the user forced it)
    adaptive_parallelism: bool = True
    # sorts of more rows than this use a range exchange instead of a gather-merge
    range_sort_rows: int = 2_000_000
    # UDFs that must not run on several instances at once
    unsafe_udfs: frozenset[str] = frozenset()


@dataclass
class RuleRun:
    """One rule's run: its name, time, and the plan after it (for explain verbose)."""

    name: str
    millis: float
    changed: bool
    plan_after: str


@dataclass
class Optimized:
    logical: L.LogicalPlan
    physical: P.PhysicalPlan
    rules: list[RuleRun] = field(default_factory=list)


def rule_names() -> list[str]:
    """Every rule, in the order it runs."""
    return [n for n, _ in LOGICAL_RULES] + ["plan_physical"] + PHYSICAL_RULE_NAMES + ["check_plan"]


def optimize(plan: L.LogicalPlan, config: OptimizerConfig) -> Optimized:
    """Optimize a logical plan into a checked physical plan."""
    unknown = set(config.disabled_rules) - set(rule_names())
    if unknown:
        raise PlanError(f"unknown optimizer rule(s) {sorted(unknown)}; rules are {rule_names()}")
    bad = set(config.disabled_rules) & ALWAYS_ON
    if bad:
        raise PlanError(f"rule(s) {sorted(bad)} cannot be disabled")
    runs: list[RuleRun] = []

    def run(name: str, fn: Callable[[Any], Any], p: Any, render: Callable[[Any], str]) -> Any:
        if name in config.disabled_rules:
            return p
        t0 = time.perf_counter()
        out = fn(p)
        millis = (time.perf_counter() - t0) * 1000
        try:
            out.schema  # noqa: B018 - the plan check after every rule
        except Exception as e:  # pragma: no cover - a rule bug
            raise PlanError(f"optimizer rule {name} produced an invalid plan: {e}") from e
        runs.append(RuleRun(name=name, millis=millis, changed=out != p, plan_after=render(out)))
        return out

    logical = plan
    for name, rule in LOGICAL_RULES:
        logical = run(name, rule, logical, L.render)
    pconf = PlannerConfig(
        dop=config.dop,
        broadcast_rows=config.broadcast_rows,
        range_sort_rows=config.range_sort_rows,
        unsafe_udfs=config.unsafe_udfs,
    )
    physical = run("plan_physical", lambda p: to_physical(p, pconf), logical, P.render)
    for name, rule in physical_rules(config):
        physical = run(name, rule, physical, P.render)
    physical = run("check_plan", check_plan, physical, P.render)
    return Optimized(logical=logical, physical=physical, rules=runs)
