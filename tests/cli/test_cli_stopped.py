"""SIGTERM's `Stopped` passes library code's `except Exception` and, caught nowhere else,
ends the command with 143 and a line, never "internal error"."""

from __future__ import annotations

import signal
import sys

import pytest

from dralloc.cli import main
from dralloc.cli.simulate import Stopped


def test_a_broad_except_in_library_code_does_not_swallow_it() -> None:
    def library_code() -> None:
        try:
            raise Stopped(signal.SIGTERM)
        except Exception:  # what a simulation step might do with its own errors
            pytest.fail("Stopped was caught as an ordinary error")

    with pytest.raises(Stopped):
        library_code()


def test_stopped_outside_the_commands_clean_up_exits_143(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def stopped() -> None:
        raise Stopped(signal.SIGTERM)

    monkeypatch.setattr(main, "app", stopped)
    monkeypatch.setattr(sys, "argv", ["dralloc", "simulate"])
    with pytest.raises(SystemExit) as exit_info:
        main.run()
    assert exit_info.value.code == 143
    err = capsys.readouterr().err
    assert "stopped by SIGTERM" in err
    assert "internal error" not in err
