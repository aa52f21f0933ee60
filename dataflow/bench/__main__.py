"""``python -m dataflow.bench tpch ...``: the same as ``dataflow bench tpch ...``."""

import sys

from .cli import main

sys.exit(main())
