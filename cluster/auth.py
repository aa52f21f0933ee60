"""Ray's token authentication, as dataflow uses it.

Ray 2.60 turns token authentication on for every cluster that ``ray.init()`` starts,
and a ``ray start`` head turns it on when it finds a token. The token is a file
(``~/.ray/auth_token`` by default) or an environment variable. Ray's C++ loader
(``AuthenticationTokenLoader``) looks, in this order, at ``RAY_AUTH_TOKEN`` (the token
itself), ``RAY_AUTH_TOKEN_PATH`` (a file holding it) and ``~/.ray/auth_token``; the mode
comes from ``RAY_AUTH_MODE`` (``token`` or ``disabled``).

Two traps this module removes: a process that joins a cluster by an explicit address
(an argument or ``RAY_ADDRESS``) never turns token mode on by itself, so it is refused
with ``InvalidAuthToken``; and a worker ``ray start --address=...`` without
``RAY_AUTH_MODE=token`` is refused the same way. So every node and client dataflow starts
gets ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH`` in its environment.

This module imports nothing from Ray at import time: the CLI's argument parsing and
its unit tests do not need Ray.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

AUTH_MODE_ENV = "RAY_AUTH_MODE"
TOKEN_ENV = "RAY_AUTH_TOKEN"
TOKEN_PATH_ENV = "RAY_AUTH_TOKEN_PATH"
#: the cookie Ray's dashboard reads the token from (``/api/authenticate`` sets it)
DASHBOARD_COOKIE = "ray-authentication-token"


def default_token_path() -> Path:
    """Where Ray looks for the token when no environment variable names one."""
    return Path.home() / ".ray" / "auth_token"


def token_path(env: dict[str, str] | None = None) -> Path | None:
    """The file the token would be read from (``None`` if it comes from ``RAY_AUTH_TOKEN``
    or there is none)."""
    env = dict(os.environ) if env is None else env
    if env.get(TOKEN_ENV):
        return None
    if env.get(TOKEN_PATH_ENV):
        return Path(env[TOKEN_PATH_ENV]).expanduser()
    p = default_token_path()
    return p if p.exists() else None


def read_token(env: dict[str, str] | None = None) -> str | None:
    """The token as Ray would find it, or ``None``."""
    env = dict(os.environ) if env is None else env
    if env.get(TOKEN_ENV):
        return env[TOKEN_ENV].strip()
    p = token_path(env)
    if p is None or not p.exists():
        return None
    text = p.read_text().strip()
    return text or None


def ensure_token(path: Path | None = None) -> Path:
    """The token file, created (256 random bits, mode 0600, as Ray's own
    ``ray get-auth-token --generate``) when there is none yet. An existing token is
    reused, so clusters and clients started earlier keep working."""
    p = path or token_path() or default_token_path()
    if p.exists() and p.read_text().strip():
        return p
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return p


def node_env(token_file: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a ``ray start`` (or a client) that must use ``token_file``."""
    env = dict(os.environ if base is None else base)
    env[AUTH_MODE_ENV] = "token"
    env[TOKEN_PATH_ENV] = str(token_file)
    env.pop(TOKEN_ENV, None)  # RAY_AUTH_TOKEN would win over the file
    return env


def enable_for_client(token_file: Path | None = None) -> bool:
    """Turn token mode on in this process before it joins a cluster, when a token is
    available (from ``token_file``, or the places Ray looks) and ``RAY_AUTH_MODE`` is
    not set explicitly. Returns whether token mode is on. An explicit
    ``RAY_AUTH_MODE=disabled`` is respected: dataflow never switches authentication off,
    and never on against the user's word."""
    mode = os.environ.get(AUTH_MODE_ENV)
    if mode is not None and mode.lower() != "token":
        return False
    if token_file is not None and not os.environ.get(TOKEN_ENV):
        os.environ[TOKEN_PATH_ENV] = str(token_file)
    if read_token() is None:
        return mode is not None
    os.environ[AUTH_MODE_ENV] = "token"
    _refresh_ray_config()
    return True


def _refresh_ray_config() -> None:
    """Make Ray's cached config and token cache see the environment (what Ray's own
    ``_enable_token_auth`` does)."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]
    except ImportError:  # Ray not installed: nothing to refresh
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def dashboard_help(url: str | None, env: dict[str, str] | None = None) -> str | None:
    """How to open the dashboard at ``url`` with the token: Ray's dashboard takes it
    as ``Authorization: Bearer <token>`` (or ``X-Ray-Authorization``), or from the
    ``ray-authentication-token`` cookie that its login box (``POST /api/authenticate``)
    sets. It accepts no token in the URL, so the help names the file to paste from."""
    if not url:
        return None
    p = token_path(env)
    where = f"the token in {p} (`cat {p}`)" if p is not None else f"the token in ${TOKEN_ENV}"
    header = f"$(cat {p})" if p is not None else f"${TOKEN_ENV}"
    return (
        f"Open {url} and paste {where} when the dashboard asks for it. From scripts, send the "
        f"header 'Authorization: Bearer <token>', e.g. "
        f'curl -H "Authorization: Bearer {header}" {url}/api/jobs/'
    )
