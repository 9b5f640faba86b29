"""Packages that are also functions: ``tinct.colorize(image)`` and ``from tinct.colorize import auto``.

``tinct.colorize`` is both the entry point of the Python API and the subpackage that holds the
colorization methods. Python binds a package's name on its parent when the package is imported, so a
plain function ``tinct.colorize`` would be replaced by the module on first import of
``tinct.colorize.*``. Making the package module itself callable keeps one object under that name.
"""

from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        return self.__dict__["__call__"](*args, **kwargs)


def make_callable(module_name: str) -> None:
    """Let the module ``module_name`` be called: calling it calls its module-level ``__call__``."""
    sys.modules[module_name].__class__ = _CallablePackage
