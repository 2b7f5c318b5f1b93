"""The single import of the Rust-backed `common-expression-language` library (`import cel`).

Owns nothing but the import. `cel/__init__.py` eagerly imports the package's own command-line
tool, which imports typer, which touches a click attribute deprecated in the installed click
and so emits a DeprecationWarning at import time. Our test suite turns warnings into errors,
so the import happens here with exactly that warning silenced; every module of this package
imports `cel` from here.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*'click\.", category=DeprecationWarning)
    import cel
    from cel import stdlib

__all__ = ["cel", "stdlib"]
