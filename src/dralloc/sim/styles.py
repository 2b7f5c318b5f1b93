"""One colour and one line style per policy, fixed by its name, in every chart of every report.

Colours are Okabe and Ito's palette ("Color Universal Design", 2008), which stays distinct
under the common colour-vision deficiencies; each policy also has its own dash, so lines
differ without colour (in print, too). A style is looked up by name, never by position, so
`fgd` is the same vermillion solid line whether it is compared with one policy or five.

A replay with queues labels its runs `policy / queue policy`: the colour then comes from the
queue policy, the dash says whether admission is placement-aware (`+placement`: dashed), and
the scheduler policy is in the label. A name this module does not know gets a colour and dash
derived from the name's checksum (stable across runs and processes). Pure values.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

__all__ = ["IDEAL_STYLE", "PolicyStyle", "policy_style"]

# Okabe-Ito, by name.
_BLACK = "#000000"
_ORANGE = "#E69F00"
_SKY_BLUE = "#56B4E9"
_BLUISH_GREEN = "#009E73"
_BLUE = "#0072B2"
_VERMILLION = "#D55E00"
_REDDISH_PURPLE = "#CC79A7"
_GREY = "#999999"  # the palette's yellow is too light on white for a line; grey replaces it


@dataclass(frozen=True)
class PolicyStyle:
    """A plotly line colour and dash (`solid`, `dash`, `dot`, `dashdot`, `longdash`,
    `longdashdot`)."""

    color: str
    dash: str

    def line(self, width: float = 2.5) -> dict[str, object]:
        """The `line` of a plotly Scatter trace."""
        return {"color": self.color, "dash": self.dash, "width": width}

    def marker(self) -> dict[str, object]:
        """The `marker` of a plotly Bar trace: the colour and a fill pattern standing in for
        the dash, so bars too differ without colour."""
        return {"color": self.color, "pattern": {"shape": _PATTERNS[self.dash]}}


_SCHEDULER_POLICIES = {
    "fgd": PolicyStyle(_VERMILLION, "solid"),
    "bestfit": PolicyStyle(_BLUE, "dash"),
    "packing": PolicyStyle(_BLUISH_GREEN, "dot"),
    "clustering": PolicyStyle(_REDDISH_PURPLE, "dashdot"),
    "dotprod": PolicyStyle(_ORANGE, "longdash"),
    "random": PolicyStyle(_SKY_BLUE, "longdashdot"),
}
_QUEUE_POLICIES = {
    "none": _GREY,
    "strictfifo": _ORANGE,
    "besteffortfifo": _SKY_BLUE,
    "fair": _BLUISH_GREEN,
}
_PATTERNS = {
    "solid": "",
    "dash": "/",
    "dot": ".",
    "dashdot": "x",
    "longdash": "-",
    "longdashdot": "+",
}
_FALLBACK_COLORS = (_BLUE, _VERMILLION, _REDDISH_PURPLE, _BLACK, _ORANGE, _SKY_BLUE)
_FALLBACK_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")

IDEAL_STYLE = PolicyStyle(_BLACK, "dot")
"""The FGD experiment's ideal line, max(0, 100 - x)."""


def policy_style(label: str) -> PolicyStyle:
    """The style of a policy (`fgd`) or a queued run's label (`fgd / fair+placement`)."""
    if label in _SCHEDULER_POLICIES:
        return _SCHEDULER_POLICIES[label]
    _, slash, queues = label.partition(" / ")
    if slash:
        base, plus, _ = queues.partition("+")
        if base in _QUEUE_POLICIES:
            return PolicyStyle(_QUEUE_POLICIES[base], "dash" if plus else "solid")
    checksum = zlib.crc32(label.encode())
    return PolicyStyle(
        _FALLBACK_COLORS[checksum % len(_FALLBACK_COLORS)],
        _FALLBACK_DASHES[(checksum // len(_FALLBACK_COLORS)) % len(_FALLBACK_DASHES)],
    )
