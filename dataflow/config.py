"""The Session's settings, validated once, before anything starts.

A bad setting is a :class:`dataflow.errors.ConfigError` naming the setting and what
it accepts; no cluster, actor or thread exists yet when it is raised, so a failed
``Session()`` leaves nothing running.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .operators.base import DEFAULT_BATCH_ROWS


class SessionConfig(BaseModel):
    """Every ``Session(...)`` keyword, with its type and range."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    address: str | None = None
    num_cpus: int | None = Field(default=None, ge=1)
    parallelism: int | None = Field(default=None, ge=1, le=1024)
    chain_operators: bool = True
    runtime: Literal["ray", "local"] = "ray"
    batch_rows: int = Field(default=DEFAULT_BATCH_ROWS, ge=1)
    disabled_rules: tuple[str, ...] = ()
    broadcast_rows: int = Field(default=2_000_000, ge=0)
    adaptive_parallelism: bool = True
    range_sort_rows: int = Field(default=2_000_000, ge=0)
    warm_actors: int | None = Field(default=None, ge=0)
    max_actors: int | None = Field(default=None, ge=1)
    max_retries: int = Field(default=2, ge=0, le=100)
    name: str | None = Field(default=None, min_length=1, max_length=40)
    progress: bool = True

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
    """A :class:`SessionConfig` from ``Session`` keywords, or a :class:`ConfigError`."""
    if isinstance(kwargs.get("disabled_rules"), (list, set, frozenset)):
        kwargs["disabled_rules"] = tuple(kwargs["disabled_rules"])  # type: ignore[arg-type]
    try:
        return SessionConfig(**kwargs)  # type: ignore[arg-type]
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(x) for x in err["loc"]) or "Session"
            got = err.get("input")
            problems.append(f"{where}={got!r}: {err['msg']}")
        raise ConfigError("invalid Session setting: " + "; ".join(problems)) from None
