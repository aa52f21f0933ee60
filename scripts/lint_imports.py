"""Run import-linter's ``lint-imports`` over all of the dataflow package.

dataflow installs from five source folders (pyproject's ``package-dir``: ``operators/``
becomes ``dataflow.operators``, and so on for ``exchange/``, ``optimizer/``, ``cluster/``).
grimp, which builds the import graph for import-linter, walks only the folder of a
top-level package, so ``dataflow`` alone misses those four. ``root_packages`` in
pyproject names them as well, and this lets grimp find a subpackage's folder through
importlib, as Python's import system does. Arguments are passed to ``lint-imports``.
"""

from __future__ import annotations

import importlib.util

from grimp.adaptors.packagefinder import ImportLibPackageFinder
from grimp.application.config import settings
from grimp.application.ports.filesystem import AbstractFileSystem
from importlinter.cli import lint_imports_command


class _SubpackageFinder(ImportLibPackageFinder):
    """Finds a root package's folders; a subpackage (``dataflow.operators``) is allowed."""

    def determine_package_directories(self, package_name: str, file_system: AbstractFileSystem) -> set[str]:
        if "." in package_name:
            spec = importlib.util.find_spec(package_name)
            if spec is None or not spec.submodule_search_locations:
                raise ValueError(f"Could not find package '{package_name}'.")
            return set(spec.submodule_search_locations)
        return super().determine_package_directories(package_name, file_system)


def main() -> None:
    """Check the contracts of ``[tool.importlinter]``; exit 1 if one is broken."""
    settings.configure(PACKAGE_FINDER=_SubpackageFinder())
    lint_imports_command()  # a click command: it exits with lint-imports' status


if __name__ == "__main__":
    main()
