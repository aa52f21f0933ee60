"""The ``>>>`` examples in the package's docstrings run, one test per module.

pytest's ``--doctest-modules`` imports a file by its path, so ``operators/sort.py`` would
load as a second module ``operators.sort`` beside ``dataflow.operators.sort`` (the package
installs from five folders); this imports every module by its package name instead.
Examples that need a cluster or generated data carry ``# doctest: +SKIP`` and say why.
"""

from __future__ import annotations

import doctest
import importlib
import io
import pkgutil

import pytest

import dataflow

_SUBPACKAGES = ("dataflow.operators", "dataflow.exchange", "dataflow.optimizer", "dataflow.cluster")
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _module_names() -> list[str]:
    """Every module of the package (``python -m`` entry points aside), by its import name."""
    names = {"dataflow"}
    for package in (dataflow, *(importlib.import_module(p) for p in _SUBPACKAGES)):
        names.add(package.__name__)
        names.update(m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + "."))
    return sorted(n for n in names if not n.endswith(".__main__"))


def _doctests(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    return [t for t in doctest.DocTestFinder().find(module, name) if t.examples]


_WITH_EXAMPLES = [n for n in _module_names() if _doctests(n)]


def test_the_examples_are_found() -> None:
    # A walk that missed the folders installed under other names (operators/, exchange/,
    # ...) would let their examples go unrun; these modules all have examples.
    for name in ("dataflow", "dataflow.compute", "dataflow.sql.expressions", "dataflow.exchange.partitioners",
                 "dataflow.optimizer.rules.fold_constants", "dataflow.cluster.placement"):
        assert name in _WITH_EXAMPLES, name


@pytest.mark.parametrize("name", _WITH_EXAMPLES)
def test_docstring_examples(name: str) -> None:
    runner = doctest.DocTestRunner(optionflags=_FLAGS)
    out = io.StringIO()
    for test in _doctests(name):
        runner.run(test, out=out.write)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, out.getvalue()
