"""Option values as `dralloc` converts them (without pydantic, see `dralloc.cli.commands`):
strings, numbers with their bounds, choices and repeated options arrive as the commands
expect them, and a bad value exits 2 with click's one-line usage error naming the option."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from cli_kit import CLUSTER, QUICKSTART, claim, documents, invoke, output_list, write
from typer.testing import CliRunner

from dralloc.cli.commands import DrallocGroup


def _refused(*args: str) -> str:
    """The error line of a usage error (exit 2)."""
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    return result.stderr.strip().splitlines()[-1]


def test_a_float_that_is_not_a_number_is_refused() -> None:
    line = _refused("allocate", "-f", str(QUICKSTART), "--timeout", "soon")
    assert line == "Error: Invalid value for '--timeout': 'soon' is not a valid float."


def test_an_integer_that_is_not_one_is_refused() -> None:
    line = _refused("mig", "plan", "-m", "h100", "-p", "1g.10gb", "--gpu-index", "1.5")
    assert line == "Error: Invalid value for '--gpu-index': '1.5' is not a valid integer."


def test_an_integer_below_its_minimum_is_refused() -> None:
    line = _refused("mig", "plan", "-m", "h100", "-p", "1g.10gb", "--gpu-index", "-1")
    assert line == "Error: Invalid value for '--gpu-index': -1 is not in the range x>=0."


def test_a_choice_outside_its_values_is_refused_and_choices_are_case_sensitive() -> None:
    line = _refused("allocate", "-f", str(QUICKSTART), "-o", "JSON")
    assert (
        line == "Error: Invalid value for '-o' / '--output': 'JSON' is not one of 'yaml', 'json'."
    )


def test_numbers_choices_and_repeated_files_reach_the_command(tmp_path: Path) -> None:
    cluster = write(tmp_path, "cluster.yaml", CLUSTER)
    claims = write(tmp_path, "claims.yaml", documents(claim("c", 2)))
    result = invoke("allocate", "-f", cluster, "-f", claims, "--timeout", "2.5", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert output_list(result)["items"][0]["metadata"]["name"] == "c"
    plan = invoke("mig", "plan", "-m", "h100", "-p", "3g.40gb", "-p", "1g.10gb", "--gpu-index", "4")
    assert plan.exit_code == 0, plan.stderr
    assert "nvidia-smi mig -i 4 -cgi" in plan.stdout


def test_a_type_it_does_not_convert_is_left_to_typer() -> None:
    """A group of this class still converts what typer converts, such as a datetime."""
    app = typer.Typer(cls=DrallocGroup)
    seen: list[object] = []

    @app.command()
    def when(
        at: Annotated[datetime, typer.Option()],
        times: Annotated[int, typer.Option(min=1)] = 1,
    ) -> None:
        seen.extend([at, times])

    @app.command()
    def other() -> None:  # two commands, so the group is a group
        pass

    result = CliRunner().invoke(app, ["when", "--at", "2026-01-02T03:04:05", "--times", "3"])
    assert result.exit_code == 0, result.output
    assert seen == [datetime(2026, 1, 2, 3, 4, 5), 3]


def test_schedule_takes_every_option_cli_schedule_declares() -> None:
    """`dralloc schedule` is a thin wrapper in `cli.main` (so that its help does not import
    the scheduler) passing its options on to `cli.schedule.schedule_command`."""
    from dralloc.cli.main import app as dralloc_app
    from dralloc.cli.schedule import schedule_command

    def options(command: object) -> dict[str, tuple[list[str], object]]:
        params = command.params  # type: ignore[attr-defined]
        return {p.name: (sorted(p.opts), p.default) for p in params}

    alone = typer.Typer()
    alone.command("schedule")(schedule_command)
    alone.command("other")(lambda: None)
    declared = options(typer.main.get_command(alone).commands["schedule"])  # type: ignore[attr-defined]
    wrapped = options(typer.main.get_command(dralloc_app).commands["schedule"])  # type: ignore[attr-defined]
    assert wrapped == declared
