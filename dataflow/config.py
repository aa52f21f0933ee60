"""The Session's settings, validated once, before anything starts.

A bad setting is a :class:`dataflow.errors.ConfigError` naming the setting and what
it accepts; no cluster, actor or thread exists yet when it is raised, so a failed
``Session()`` leaves nothing running.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .operators.base import DEFAULT_BATCH_ROWS


class OptimizerSettings(BaseModel):
    """How to optimize: the one settings object the optimizer and the physical planner
    read. The Session keeps one (from its keywords) and hands ``optimize()`` a copy
    with the degree of parallelism and the UDFs of the query filled in."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    # the degree of parallelism: every stage's, or the most the cost model may choose
    dop: int = Field(default=1, ge=1)
    disabled_rules: tuple[str, ...] = ()
    # the largest build side (estimated rows) broadcast to every probe instance, when
    # broadcasting moves fewer rows than partitioning both sides
    broadcast_rows: int = Field(default=2_000_000, ge=0)
    # let the cost model choose each stage's degree, up to ``dop``; when False every
    # stage runs ``dop`` instances (the user forced it)
    adaptive_parallelism: bool = True
    # sorts of more rows than this use a range exchange instead of a gather-merge
    range_sort_rows: int = Field(default=2_000_000, ge=0)
    # UDFs that are not parallel safe: operators calling them run on one instance
    unsafe_udfs: tuple[str, ...] = ()
    # run aggregates in two phases (partial before the exchange, final after)
    two_phase_aggregate: bool = True
    # skip the partial phase when it would keep more than this share of its input
    partial_min_reduction: float = Field(default=0.5, ge=0.0, le=1.0)
    # a semi or anti join builds on its kept (left) side when the other side has more
    # than this many times its rows (a right semi/anti join)
    right_semi_ratio: float = Field(default=2.0, gt=0.0)
    # compute a subplan the query repeats (a CTE read twice) once, first, when the cost
    # model says that is cheaper (see dataflow.staged); off by default until the TPC-DS
    # queries it slows (Q04, Q39, Q58, Q83 in docs/benchmarks.md) are understood
    share_subplans: bool = False


# the Session keywords that are optimizer settings
OPTIMIZER_KEYWORDS = (
    "disabled_rules", "broadcast_rows", "adaptive_parallelism", "range_sort_rows", "share_subplans",
)


LEADER_ROWS = 1_000_000  # see SessionConfig.leader_rows


def _leader_rows_default() -> int:
    """``DATAFLOW_LEADER_ROWS`` from the environment (0 sends every query to the actors,
    as the tests of the Ray runtime do), else :data:`LEADER_ROWS`."""
    raw = os.environ.get("DATAFLOW_LEADER_ROWS", "").strip()
    if not raw:
        return LEADER_ROWS
    try:
        return max(0, int(raw))
    except ValueError:
        raise ConfigError(f"DATAFLOW_LEADER_ROWS must be a whole number of rows, got {raw!r}") from None


class SessionConfig(BaseModel):
    """Every ``Session(...)`` keyword, with its type and range (the optimizer's in
    :attr:`optimizer`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1)
    parallelism: int | None = Field(default=None, ge=1, le=1024)
    chain_operators: bool = True
    runtime: Literal["ray", "local"] = "ray"
    batch_rows: int = Field(default=DEFAULT_BATCH_ROWS, ge=1)
    optimizer: OptimizerSettings = OptimizerSettings()
    warm_actors: int | None = Field(default=None, ge=0)
    max_actors: int | None = Field(default=None, ge=1)
    max_retries: int = Field(default=2, ge=0, le=100)
    name: str | None = Field(default=None, min_length=1, max_length=40)
    progress: bool = True
    # a query whose scans read at most this many rows (by the files' row counts) runs in
    # the driver on threads, without actors, as PostgreSQL's leader runs a plan that is
    # too cheap to be worth starting workers for; 0 sends every query to the actors
    leader_rows: int = Field(default_factory=_leader_rows_default, ge=0)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+", v):
            raise ValueError("use letters, digits, '_', '.' and '-' only")
        return v

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("an empty address: leave it out to start a local cluster")
        return v


def validate(**kwargs: object) -> SessionConfig:
    """A :class:`SessionConfig` from ``Session`` keywords, or a :class:`ConfigError`
    naming every bad keyword."""
    if isinstance(kwargs.get("disabled_rules"), (list, set, frozenset)):
        kwargs["disabled_rules"] = tuple(kwargs["disabled_rules"])  # type: ignore[arg-type]
    opt = {k: kwargs.pop(k) for k in OPTIMIZER_KEYWORDS if k in kwargs}
    problems: list[str] = []
    optimizer = _checked(OptimizerSettings, opt, problems)
    config = _checked(SessionConfig, kwargs, problems)
    if problems:
        raise ConfigError("invalid Session setting: " + "; ".join(problems))
    assert isinstance(config, SessionConfig)
    return config.model_copy(update={"optimizer": optimizer})


def _checked(model: type[BaseModel], values: dict[str, object], problems: list[str]) -> BaseModel | None:
    try:
        return model(**values)
    except ValidationError as e:
        for err in e.errors():
            where = ".".join(str(x) for x in err["loc"]) or "Session"
            problems.append(f"{where}={err.get('input')!r}: {err['msg']}")
        return None
