"""What `dralloc` imports before it answers: the help of every command loads typer and a few
light modules, never the engine; a command loads only the engine it uses; and the CEL
extension is loaded without the library's interactive shell. Each check runs in a fresh
interpreter and reads its `sys.modules` (no timing: `benchmarks/cli_startup.py` measures)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from cli_kit import QUICKSTART

# Modules only a command's body may load: the scheduler (with numpy), the simulator (with
# plotly), the CEL library's shell (prompt_toolkit), typer's pydantic conversion.
ENGINE = ("numpy", "plotly", "dralloc.sim", "dralloc.scheduler", "prompt_toolkit", "pydantic")
# Not needed to print help either: the allocator and CEL, YAML and rich (help is plain click).
HEAVY_FOR_HELP = (*ENGINE, "dralloc.allocator", "dralloc.cel", "dralloc.api", "yaml", "rich")

RUN_CLI = """
import contextlib, io, json, sys
sys.argv = ["dralloc", *json.loads(sys.argv[1])]
from dralloc.cli.main import run
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        run()
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _loaded_by(*args: str) -> tuple[int, set[str]]:
    """Run `dralloc ARGS` in a fresh interpreter: its exit code and every module loaded."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_CLI, json.dumps(list(args))],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer = json.loads(done.stdout)
    return answer["code"], set(answer["modules"])


def _loaded_after(code: str) -> set[str]:
    program = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(done.stdout))


def _under(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The packages of `packages` that `modules` holds (a package or any of its modules)."""
    return [p for p in packages if any(m == p or m.startswith(p + ".") for m in modules)]


def test_importing_the_command_line_loads_no_engine_module() -> None:
    modules = _loaded_after("import dralloc.cli.main")
    assert _under(modules, HEAVY_FOR_HELP) == []


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["allocate"],
        ["explain"],
        ["schedule"],
        ["simulate"],
        ["cluster"],
        ["cluster", "generate"],
        ["mig"],
        ["mig", "plan"],
        ["node"],
        ["node", "discover"],
    ],
    ids=lambda command: " ".join(["dralloc", *command, "--help"]),
)
def test_help_loads_no_engine_module(command: list[str]) -> None:
    code, modules = _loaded_by(*command, "--help")
    assert code == 0
    assert _under(modules, HEAVY_FOR_HELP) == []


def test_version_loads_no_engine_module() -> None:
    code, modules = _loaded_by("--version")
    assert code == 0
    assert _under(modules, HEAVY_FOR_HELP) == []


def test_allocate_loads_the_allocator_but_not_the_scheduler_or_the_simulator() -> None:
    code, modules = _loaded_by("allocate", "-f", str(QUICKSTART))
    assert code == 0
    assert _under(modules, ENGINE) == []
    assert "dralloc.allocator" in modules


def test_explain_loads_neither_the_scheduler_nor_the_simulator() -> None:
    code, modules = _loaded_by("explain", "-f", str(QUICKSTART), "--claim", "training-0")
    assert code == 0
    assert _under(modules, ENGINE) == []


def test_the_cel_binding_loads_the_extension_without_the_library_shell() -> None:
    modules = _loaded_after("from dralloc.cel.binding import cel, stdlib")
    assert {"cel.cel", "cel.stdlib"} <= modules
    assert _under(modules, ("cel.cli", "prompt_toolkit", "pygments", "typer")) == []


def test_a_later_import_cel_reuses_the_extension_the_binding_loaded() -> None:
    """One extension module per process: `import cel` elsewhere gets the same objects."""
    program = """
import json, warnings
from dralloc.cel.binding import cel, stdlib
with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the library's shell may warn about click
    import cel as library
print(json.dumps([library.Context is cel.Context, library.compile is cel.compile,
                  library.stdlib is stdlib, library.evaluate("1 + 2") == 3]))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == [True, True, True, True]
