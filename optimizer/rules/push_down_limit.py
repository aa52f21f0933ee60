"""push_down_limit: move a LIMIT below projections (which keep the row count) so it
meets the sort below and becomes a top-k, and copy it into the inputs of a UNION ALL.

>>> # Limit 10 <- Project <- Sort   becomes   Project <- Limit 10 <- Sort   (a top-k)
"""

from __future__ import annotations

from dataflow import logical as L


def push_down_limit(plan: L.LogicalPlan) -> L.LogicalPlan:
    """Push every LIMIT of ``plan`` as far down as it may go."""
    kids = tuple(push_down_limit(c) for c in plan.children())
    plan = plan.with_children(kids) if kids else plan
    if not isinstance(plan, L.Limit) or plan.limit is None:
        return plan
    inner = plan.input
    if isinstance(inner, L.Project):
        return inner.replace(input=push_down_limit(plan.replace(input=inner.input)))
    if isinstance(inner, L.Union):
        k = plan.limit + plan.offset
        capped = tuple(
            i if isinstance(i, L.Limit) and i.limit is not None and i.limit <= k and i.offset == 0
            else push_down_limit(L.Limit(input=i, limit=k, offset=0))
            for i in inner.inputs
        )
        return plan.replace(input=inner.replace(inputs=capped))
    return plan
