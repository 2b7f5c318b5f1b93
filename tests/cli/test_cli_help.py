"""The help of every `dralloc` command and group: `-h` is `--help`, prose wraps to the
terminal's width, options name what they take (FILE, NODE, ...) rather than a Python type,
nothing is cut with "...", and each page ends with examples that parse and the exit codes
the command uses. Also `--version` and shell completion."""

from __future__ import annotations

import functools
import re
import shlex
from importlib.metadata import version

import pytest
import typer.main
from click.testing import Result
from typer.testing import CliRunner

from dralloc.cli.main import app
from dralloc.cli.mig import MODEL_ALIASES
from dralloc.cli.simulate import POLICIES

ROOT = typer.main.get_command(app)


def _paths(command: object = ROOT, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """The path of every command and group, the root first."""
    paths = [path]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _paths(sub, (*path, name))
    return paths


PATHS = _paths()
IDS = [" ".join(["dralloc", *path]) for path in PATHS]


@functools.cache  # each page is read by several tests; rendering it is the cost
def _help(*args: str, width: int = 80) -> Result:
    result = CliRunner().invoke(app, list(args), terminal_width=width)
    assert result.exit_code == 0, result.output
    return result


def _command(path: tuple[str, ...]) -> typer.core.TyperCommand | typer.core.TyperGroup:
    command = ROOT
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    return command


def _examples(text: str) -> list[str]:
    """The example command lines of a help page."""
    block = text.split("Examples:\n", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


def test_every_command_is_reachable_from_the_root() -> None:
    assert set(IDS) >= {
        "dralloc",
        "dralloc allocate",
        "dralloc explain",
        "dralloc schedule",
        "dralloc simulate",
        "dralloc cluster generate",
        "dralloc mig plan",
        "dralloc node discover",
    }


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_dash_h_prints_the_same_help_as_dash_dash_help(path: tuple[str, ...]) -> None:
    long = _help(*path, "--help").stdout
    assert _help(*path, "-h").stdout == long
    assert "-h, --help" in long


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_help_ends_with_examples_then_exit_codes(path: tuple[str, ...]) -> None:
    text = _help(*path, "--help").stdout
    assert "\n  Examples:\n" in text
    tail = text.split("\n  Exit codes:\n", 1)[1]
    codes = [line.split()[0] for line in tail.strip().splitlines()]
    assert codes, "an exit code at least"
    assert set(codes) <= {"0", "1", "2", "3"}
    assert codes == sorted(codes)
    assert text.index("Examples:") < text.index("Exit codes:")


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_every_example_names_a_command_and_options_that_exist(path: tuple[str, ...]) -> None:
    examples = _examples(_help(*path, "--help").stdout)
    assert examples
    ROOT.make_context("dralloc", ["--version"], resilient_parsing=True)  # converters set
    for example in examples:
        (words,) = [
            shlex.split(part) for part in example.split("|") if part.strip().startswith("dralloc ")
        ]
        command, args = ROOT, words[1:]
        while args and args[0] in getattr(command, "commands", {}):
            command, args = command.commands[args[0]], args[1:]  # type: ignore[attr-defined]
        # A group runs only with a subcommand, unless it runs on its own too (`simulate`).
        runs_alone = getattr(command, "invoke_without_command", False)
        assert runs_alone or not getattr(command, "commands", None), f"{example}: names a group"
        # Parsing checks option names, required options and values (a bad one raises).
        command.make_context(command.name, args)


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_help_fits_80_columns(path: tuple[str, ...]) -> None:
    """Prose is wrapped; the lines kept as written (examples, exit codes) are short enough."""
    long_lines = [line for line in _help(*path, "--help").stdout.splitlines() if len(line) > 80]
    assert long_lines == []


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_help_paragraphs_are_rewrapped_to_a_wide_terminal(path: tuple[str, ...]) -> None:
    """No hard line breaks inside a paragraph: on a wide terminal each is one line."""
    lines = [line.strip() for line in _help(*path, "--help", width=1000).stdout.splitlines()]
    command = _command(path)
    for paragraph in (command.help or "").split("\n\n"):
        assert " ".join(paragraph.split()) in lines


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_options_name_what_they_take_not_a_python_type(path: tuple[str, ...]) -> None:
    text = _help(*path, "--help").stdout
    options = text.split("Options:\n", 1)[1].split("\n\n", 1)[0]
    assert re.findall(r"\b(TEXT|INTEGER|FLOAT|LIST|PATH|BOOLEAN)\b", options) == []


@pytest.mark.parametrize("path", PATHS, ids=IDS)
def test_nothing_is_cut_with_an_ellipsis(path: tuple[str, ...]) -> None:
    lines = _help(*path, "--help", width=60).stdout.splitlines()
    cut = [line for line in lines if line.rstrip().endswith("...") and "Usage:" not in line]
    assert cut == []


def test_root_help_lists_every_command_with_its_short_help() -> None:
    text = _help("--help").stdout
    listed = text.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    names = [line.split()[0] for line in listed.splitlines() if line.startswith("  ")]
    assert sorted(names) == sorted(ROOT.commands)  # type: ignore[attr-defined]


def test_version_prints_the_installed_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"dralloc {version('dralloc')}\n"


def test_show_completion_prints_a_bash_completion_script() -> None:
    result = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="dralloc")
    assert result.exit_code == 0
    assert "_DRALLOC_COMPLETE=complete_bash" in result.stdout


def test_completion_completes_commands_options_and_choices() -> None:
    def complete(words: str) -> list[str]:
        env = {
            "_DRALLOC_COMPLETE": "complete_bash",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        }
        result = CliRunner().invoke(app, [], env=env, prog_name="dralloc")
        assert result.exit_code == 0
        return result.stdout.split()

    assert complete("dralloc al") == ["allocate"]
    assert complete("dralloc allocate --out") == ["--output"]
    assert complete("dralloc allocate -o ") == ["yaml", "json"]
    assert complete("dralloc mig p") == ["plan"]


def test_simulate_names_the_simulator_policies() -> None:
    from dralloc.sim.experiment import POLICIES as SIMULATOR_POLICIES

    assert POLICIES == SIMULATOR_POLICIES


def test_mig_plan_names_every_gpu_alias() -> None:
    from dralloc.devices.cluster import GPU_ALIASES

    assert sorted(GPU_ALIASES) == list(MODEL_ALIASES)
