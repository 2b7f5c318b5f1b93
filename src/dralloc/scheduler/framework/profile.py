"""`Profile`: one scheduler profile's plugins at each extension point, in the order they run
(a KubeSchedulerConfiguration profile once `scheduler/profiles.py` has built its plugins)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dralloc.scheduler.framework.interface import (
    BindPlugin,
    FilterPlugin,
    PermitPlugin,
    PostFilterPlugin,
    PreBindPlugin,
    PreFilterPlugin,
    PreScorePlugin,
    ReservePlugin,
    ScorePlugin,
)


@dataclass
class Profile:
    """A scheduler profile: the plugins enabled at each extension point, in order.

    Score plugins carry their weight (0 or missing counts as 1, as upstream).
    """

    name: str = "default-scheduler"
    pre_filter: list[PreFilterPlugin] = field(default_factory=list)
    filter: list[FilterPlugin] = field(default_factory=list)
    post_filter: list[PostFilterPlugin] = field(default_factory=list)
    pre_score: list[PreScorePlugin] = field(default_factory=list)
    score: list[tuple[ScorePlugin, int]] = field(default_factory=list)
    reserve: list[ReservePlugin] = field(default_factory=list)
    permit: list[PermitPlugin] = field(default_factory=list)
    pre_bind: list[PreBindPlugin] = field(default_factory=list)
    bind: list[BindPlugin] = field(default_factory=list)
    percentage_of_nodes_to_score: int | None = None
