"""check_plan: the last rule. It changes nothing and fails loudly on an invalid plan."""

from __future__ import annotations

from dataflow.errors import PlanError
from dataflow.physical import PExchange, PhysicalPlan, walk

from .enforce_distribution import satisfies_hash


def check_plan(plan: PhysicalPlan) -> PhysicalPlan:
    """Verify widths, requirements and schemas; return ``plan`` unchanged."""
    if plan.dop != 1:
        raise PlanError(f"plan root must run on one instance, not {plan.dop}: {plan.describe()}")
    for node in walk(plan):
        node.schema  # noqa: B018 - raises on an invalid schema
        for i, child in enumerate(node.children()):
            if isinstance(node, PExchange):
                continue
            req = node.required_distribution(i)
            if child.dop != node.dop and not (req.kind == "single" and child.dop == 1):
                raise PlanError(
                    f"{node.describe()} runs {node.dop} instances but its input {child.describe()} "
                    f"runs {child.dop} with no exchange between"
                )
            produced = child.output_partitioning()
            if req.kind == "hash" and node.dop > 1 and not satisfies_hash(produced, req.keys, node.dop, req.exact):
                raise PlanError(f"{node.describe()} needs input hashed on {list(req.keys)}, got {produced.kind}")
            if req.kind == "broadcast" and node.dop > 1 and produced.kind != "broadcast":
                raise PlanError(f"{node.describe()} needs a broadcast input, got {produced.kind}")
        if getattr(node, "null_aware", False) and node.strategy == "partitioned":  # type: ignore[union-attr]
            raise PlanError("a null-aware anti join (NOT IN) must see its whole build side: not partitioned")
        if isinstance(node, PExchange) and node.mode in ("gather", "gather_merge") and node.dop != 1:
            raise PlanError(f"{node.describe()} must have one consumer")
    return plan
