"""The optimizer: one ordered list of rules (:data:`RULES`), each a pure function
from plan to plan.

``optimize`` runs the logical rules, plans physically, then runs the physical rules.
The driver wraps every rule the same way (as DuckDB's does): skip it if disabled,
time it, and check the plan after it. Every rule gets the same :class:`Context`: the
settings (one :class:`~dataflow.config.OptimizerSettings`, from the Session) and the
:class:`~dataflow.optimizer.statistics.Estimator` of this optimization.

>>> [r.name for r in RULES if r.always_on]
['plan_physical', 'enforce_distribution', 'check_plan']
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from dataflow import logical as L
from dataflow import physical as P
from dataflow.config import OptimizerSettings
from dataflow.errors import PlanError

from .cost import annotate
from .physical_planner import to_physical
from .rules.check_plan import check_plan
from .rules.choose_parallelism import choose_parallelism
from .rules.enforce_distribution import enforce_distribution
from .rules.fold_constants import fold_constants
from .rules.push_down_filter import push_down_filter
from .rules.push_down_limit import push_down_limit
from .rules.push_down_projection import push_down_projection
from .rules.push_down_semi_join import push_down_semi_join
from .rules.reduce_aggregate_input import reduce_aggregate_input
from .rules.reorder_joins import reorder_joins
from .statistics import Estimator


@dataclass(frozen=True)
class Context:
    """What every rule may read: the settings and this optimization's estimator."""

    settings: OptimizerSettings
    estimator: Estimator


@dataclass(frozen=True)
class Rule:
    """One optimizer rule: its name (for ``disabled_rules`` and explain), the function
    (plan and context in, plan out), its phase (``logical`` rules rewrite the logical
    plan, ``physical`` ones the physical plan; ``plan_physical`` goes between), whether
    it may be disabled, and, if it applies only under some settings, when."""

    name: str
    fn: Callable[[Any, Context], Any]
    phase: Literal["logical", "physical"]
    always_on: bool = False
    applies: Callable[[OptimizerSettings], bool] | None = None


RULES: tuple[Rule, ...] = (
    Rule("fold_constants", lambda p, c: fold_constants(p), "logical"),
    Rule("push_down_filter", lambda p, c: push_down_filter(p), "logical"),
    Rule("reorder_joins", lambda p, c: reorder_joins(p, c.estimator), "logical"),
    Rule("push_down_semi_join", lambda p, c: push_down_semi_join(p, c.estimator), "logical"),
    Rule("reduce_aggregate_input", lambda p, c: reduce_aggregate_input(p, c.estimator), "logical"),
    Rule("push_down_limit", lambda p, c: push_down_limit(p), "logical"),
    Rule("push_down_projection", lambda p, c: push_down_projection(p), "logical"),
    # logical -> physical: its output is a physical plan
    Rule("plan_physical", lambda p, c: to_physical(p, c.settings, c.estimator), "physical", always_on=True),
    Rule(
        "choose_parallelism", lambda p, c: choose_parallelism(p, c.settings.dop, c.estimator), "physical",
        applies=lambda s: s.adaptive_parallelism,
    ),
    Rule("enforce_distribution", lambda p, c: enforce_distribution(p), "physical", always_on=True),
    Rule("annotate_costs", lambda p, c: annotate(p, c.estimator), "physical"),
    Rule("check_plan", lambda p, c: check_plan(p), "physical", always_on=True),
)


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
    return [r.name for r in RULES]


def optimize(
    plan: L.LogicalPlan, settings: OptimizerSettings, estimator: Estimator | None = None
) -> Optimized:
    """Optimize a logical plan into a checked physical plan. ``estimator`` (a fresh
    one by default) serves every rule of this call, so statistics of files rewritten
    since an earlier call are read again."""
    names = rule_names()
    unknown = set(settings.disabled_rules) - set(names)
    if unknown:
        raise PlanError(f"unknown optimizer rule(s) {sorted(unknown)}; rules are {names}")
    bad = [r.name for r in RULES if r.always_on and r.name in settings.disabled_rules]
    if bad:
        raise PlanError(f"rule(s) {sorted(bad)} cannot be disabled")
    ctx = Context(settings=settings, estimator=estimator if estimator is not None else Estimator())
    runs: list[RuleRun] = []
    logical = plan
    current: Any = plan
    for rule in RULES:
        if rule.name in settings.disabled_rules or (rule.applies is not None and not rule.applies(settings)):
            continue
        t0 = time.perf_counter()
        out = rule.fn(current, ctx)
        millis = (time.perf_counter() - t0) * 1000
        try:
            out.schema  # noqa: B018 - the plan check after every rule
        except Exception as e:  # pragma: no cover - a rule bug
            raise PlanError(f"optimizer rule {rule.name} produced an invalid plan: {e}") from e
        render = L.render if rule.phase == "logical" else P.render
        runs.append(RuleRun(name=rule.name, millis=millis, changed=out != current, plan_after=render(out)))
        if rule.phase == "logical":
            logical = out
        current = out
    return Optimized(logical=logical, physical=current, rules=runs)


__all__ = ["RULES", "Context", "Optimized", "Rule", "RuleRun", "optimize", "rule_names"]
