"""Test-wide settings. The tests of the Ray runtime run on small data, which a Session
would otherwise run in the driver (``leader_rows``): every query goes to the actors
unless a test asks for the leader itself (tests/e2e/test_engine.py)."""

import os

os.environ.setdefault("DATAFLOW_LEADER_ROWS", "0")
