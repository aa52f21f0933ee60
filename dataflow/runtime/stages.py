"""Cut a physical plan into stages: the stage graph. Pure functions, no Ray.

A stage is a chain of operators that runs as ``dop`` instances, each instance on one
actor. Stages are cut at exchanges; with chaining off (``chain=False``), also at
every other edge, joined by ``forward`` edges (instance i feeds instance i), so
every operator instance gets an actor of its own.

Nodes are named by their path in the plan ("0" is the root, "0.1" its second
child); edges by the path of the consumer's input they feed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dataflow.distribution import Route
from dataflow.physical import PExchange, PhysicalPlan, PScan
from dataflow.specs import OrderSpec

RESULT = -1  # the consumer id of the edge that carries the query result to the caller
FORWARD = Route(mode="forward")  # instance i feeds instance i (chaining off)
GATHER = Route(mode="gather")


@dataclass(frozen=True)
class Edge:
    """A channel between stages: ``producers`` instances of stage ``producer`` send
    to ``consumers`` instances of stage ``consumer``, routed as ``route`` says (the
    :class:`~dataflow.distribution.Route` of the plan's exchange, or ``forward``)."""

    id: str
    producer: int
    consumer: int
    route: Route
    producers: int
    consumers: int

    @property
    def mode(self) -> str:
        return self.route.mode

    @property
    def keys(self) -> tuple[str, ...]:
        return self.route.keys

    @property
    def order(self) -> tuple[OrderSpec, ...]:
        return self.route.order

    @property
    def senders(self) -> int:
        """How many producers each consumer instance hears from (end-of-stream count)."""
        return 1 if self.mode == "forward" else self.producers

    @property
    def per_producer(self) -> bool:
        """Whether the consumer reads each producer's stream apart (to merge them)."""
        return self.mode == "gather_merge"


@dataclass
class Stage:
    id: int
    root: PhysicalPlan
    root_path: str
    dop: int
    inputs: dict[str, Edge] = field(default_factory=dict)
    output: Edge | None = None
    operators: list[tuple[str, PhysicalPlan]] = field(default_factory=list)

    def scans(self) -> list[tuple[str, PScan]]:
        return [(p, n) for p, n in self.operators if isinstance(n, PScan)]


@dataclass
class StageGraph:
    stages: list[Stage]

    @property
    def edges(self) -> list[Edge]:
        return [s.output for s in self.stages if s.output is not None]

    def instances(self) -> int:
        """Actors the graph needs (one per stage instance)."""
        return sum(s.dop for s in self.stages)

    def render(self) -> str:
        lines = []
        for s in self.stages:
            out = s.output
            to = "result" if out is None or out.consumer == RESULT else f"stage {out.consumer}"
            how = out.mode if out is not None else "result"
            ops = " -> ".join(n.name for _, n in reversed(s.operators))
            lines.append(f"Stage {s.id} x{s.dop}: {ops}  => {how} to {to}")
        return "\n".join(lines)


def build_stages(plan: PhysicalPlan, chain: bool = True) -> StageGraph:
    """Cut ``plan`` (whose exchanges are already placed) into a stage graph."""
    stages: list[Stage] = []

    def new_stage(root: PhysicalPlan, path: str) -> Stage:
        s = Stage(id=len(stages), root=root, root_path=path, dop=root.dop)
        stages.append(s)
        return s

    def visit(node: PhysicalPlan, path: str, stage: Stage) -> None:
        stage.operators.append((path, node))
        for i, child in enumerate(node.children()):
            cpath = f"{path}.{i}"
            if isinstance(child, PExchange):
                producer = new_stage(child.input, f"{cpath}.0")
                edge = Edge(
                    id=cpath, producer=producer.id, consumer=stage.id, route=child.route,
                    producers=child.input.dop, consumers=child.dop,
                )
                producer.output = edge
                stage.inputs[cpath] = edge
                visit(child.input, f"{cpath}.0", producer)
            elif not chain:
                producer = new_stage(child, cpath)
                edge = Edge(
                    id=cpath, producer=producer.id, consumer=stage.id, route=FORWARD,
                    producers=child.dop, consumers=node.dop,
                )
                producer.output = edge
                stage.inputs[cpath] = edge
                visit(child, cpath, producer)
            else:
                visit(child, cpath, stage)

    if isinstance(plan, PExchange) and plan.mode in ("gather", "gather_merge"):
        # the final gather happens in the caller, which merges the root instances' outputs
        root = new_stage(plan.input, "0.0")
        root.output = Edge(id="0", producer=root.id, consumer=RESULT, route=plan.route, producers=plan.input.dop, consumers=1)
        visit(plan.input, "0.0", root)
    else:
        root = new_stage(plan, "0")
        root.output = Edge(id="0", producer=root.id, consumer=RESULT, route=GATHER, producers=plan.dop, consumers=1)
        visit(plan, "0", root)
    return StageGraph(stages=stages)
