"""The package version, in a leaf module so that lower layers (the runtime, the cluster) can read it
without importing the API through ``dataflow/__init__.py``."""

from __future__ import annotations

__version__ = "0.1.0"
