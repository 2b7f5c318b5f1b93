"""The single import of the Rust-backed `common-expression-language` library.

Owns nothing but the import: every module of this package takes `cel` and `stdlib` from here.

`cel/__init__.py` eagerly imports the library's own interactive shell (`cel.cli`), which pulls
in prompt_toolkit, pygments and typer: about 0.3 s at start-up that dralloc never uses. So the
two modules dralloc needs are loaded by their full names without running the package's
`__init__`: the compiled extension `cel.cel` (what `import cel` re-exports with `*`, so
`cel.Context`, `cel.compile` and the rest are the same objects) and the pure-Python
`cel.stdlib`. Both are registered in `sys.modules` under those names, so a later `import cel`
elsewhere in the process reuses them instead of initialising the extension a second time.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["cel", "stdlib"]


def _load(name: str, search: list[str]) -> ModuleType:
    """Import submodule `name` of the `cel` package (found in `search`) without its parent."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.machinery.PathFinder.find_spec(name, search)
    if spec is None or spec.loader is None:
        raise ImportError(f"the common-expression-language library has no module {name}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


if TYPE_CHECKING:
    from cel import cel, stdlib
else:
    _package = importlib.util.find_spec("cel")  # finds the package; does not run it
    if _package is None or not _package.submodule_search_locations:
        raise ImportError("the common-expression-language library (package cel) is not installed")
    _search = list(_package.submodule_search_locations)
    cel = _load("cel.cel", _search)  # first: cel.stdlib imports it (`from .cel import ...`)
    stdlib = _load("cel.stdlib", _search)
