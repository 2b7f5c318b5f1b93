"""Each policy keeps one colour and one dash, fixed by its name, whatever it is compared with."""

from __future__ import annotations

from dralloc.sim.experiment import POLICIES
from dralloc.sim.styles import IDEAL_STYLE, policy_style


def test_every_scheduler_policy_has_its_own_colour_and_dash() -> None:
    styles = [policy_style(p) for p in POLICIES]
    assert len({s.color for s in styles}) == len(POLICIES)
    assert len({s.dash for s in styles}) == len(POLICIES)
    assert IDEAL_STYLE not in styles


def test_a_style_depends_on_the_name_only() -> None:
    assert policy_style("fgd") == policy_style("fgd") == policy_style(POLICIES[-1])
    assert policy_style("fgd").color == "#D55E00"  # Okabe-Ito vermillion
    assert policy_style("an unknown name") == policy_style("an unknown name")


def test_queued_runs_take_the_queue_policys_colour_and_dash_for_placement() -> None:
    plain, placed = policy_style("fgd / fair"), policy_style("bestfit / fair+placement")
    assert plain.color == placed.color and (plain.dash, placed.dash) == ("solid", "dash")
    assert policy_style("fgd / none").color != plain.color
