"""`ImageLocality` (Score; spec/scheduler.md section 4.9).

For each container and init container image of the pod (its name normalised: a name without a
tag gets `:latest`) that the node reports in `status.images`, add the image's size scaled by
its spread, `size * nodes_with_image / all_nodes`, so that an image every node holds counts
fully and one a single node holds counts little (no push to pile pods onto the node that
happens to have it). The sum is clamped to [23 MB, 1000 MB x containers] and mapped linearly
onto 0..100:

    score = 100 * (clamp(sum) - 23 MB) // (1000 MB * containers - 23 MB)

No NormalizeScore. A node without images scores 0 at once, and when no node holds any of the
pod's images every node does: `uniform_score` says so once per cycle (the framework's
`UniformScorer`), so the plugin is not called per node.

Which nodes hold an image is counted over every node of the snapshot (`NodeLister`) and
remembered (`_SpreadMemo`) until the node list changes or a node whose images differ shows
up in the nodes' change journal. An image's size is what the first node in name order
holding it reports (upstream takes the first node its cache saw). Without a lister the
scored node is taken as the whole cluster. Not counted: the images of ImageVolume sources
(1.36), since dralloc's pod spec carries no volumes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dralloc.api.core import Pod
from dralloc.scheduler.framework import SUCCESS, CycleState, NodeInfo, PodInfo, Status
from dralloc.scheduler.framework.journal import ChangeJournal
from dralloc.scheduler.plugins.helper.listers import NodeLister

NAME = "ImageLocality"
MB = 1024 * 1024
# Upstream's thresholds: below 23 MB an image is cheap to pull anyway; the maximum grows with
# the number of containers.
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB
MAX_NODE_SCORE = 100


def normalized_image_name(name: str) -> str:
    """`name` with `:latest` added when it has no tag (no `:` after the last `/`), as the
    kubelet reports images; a digest (`@sha256:...`) counts as tagged.

    >>> normalized_image_name("nginx"), normalized_image_name("registry:5000/app")
    ('nginx:latest', 'registry:5000/app:latest')
    """
    if name.rfind(":") <= name.rfind("/"):
        return f"{name}:latest"
    return name


def pod_images(pod: Pod) -> tuple[str, ...]:
    """The normalised images of the pod's init containers, then its containers."""
    spec = pod.spec
    return tuple(normalized_image_name(c.image) for c in (*spec.init_containers, *spec.containers))


def calculate_priority(total: int, containers: int) -> int:
    """The clamped, linearly mapped score of a sum of scaled image sizes."""
    top = MAX_CONTAINER_THRESHOLD * containers
    clamped = min(max(total, MIN_THRESHOLD), top)
    return MAX_NODE_SCORE * (clamped - MIN_THRESHOLD) // (top - MIN_THRESHOLD)


@dataclass(frozen=True)
class _Spread:
    """Per image name: (size, how many nodes hold it), over `total` nodes."""

    total: int
    images: dict[str, tuple[int, int]]


def _spread_of(nodes: Sequence[NodeInfo]) -> _Spread:
    images: dict[str, tuple[int, int]] = {}
    for node in nodes:
        for name, size in node.image_sizes.items():
            have = images.get(name)
            images[name] = (size, 1) if have is None else (have[0], have[1] + 1)
    return _Spread(len(nodes), images)


class _SpreadMemo:
    """The image spread of one node list. Contract: owned by one ImageLocality plugin; valid
    while the list object is the same, and, when its nodes share a change journal, while no
    node named in the journal since reports other images than it did (without a journal it
    is recomputed on every read). Holds one list's worth of image maps."""

    __slots__ = ("_at", "_journal", "_nodes", "_position", "_sizes", "_spread")

    def __init__(self) -> None:
        self._nodes: Sequence[NodeInfo] | None = None
        self._journal: ChangeJournal | None = None
        self._position = 0
        self._at: dict[str, int] = {}
        self._sizes: list[Mapping[str, int]] = []
        self._spread = _Spread(0, {})

    def _is_current(self, nodes: Sequence[NodeInfo]) -> bool:
        journal = self._journal
        if nodes is not self._nodes or journal is None or len(nodes) != len(self._sizes):
            return False
        changed = journal.since(self._position)
        self._position = len(journal)
        if changed is None:  # fallen behind what the journal keeps
            return False
        for name in dict.fromkeys(changed):
            at = self._at.get(name)
            if at is not None and nodes[at].image_sizes != self._sizes[at]:
                return False
        return True

    def spread(self, nodes: Sequence[NodeInfo]) -> _Spread:
        if self._is_current(nodes):
            return self._spread
        self._nodes = nodes
        self._at = {node.name: at for at, node in enumerate(nodes)}
        self._sizes = [node.image_sizes for node in nodes]
        journals = {id(node.journal) for node in nodes}
        self._journal = nodes[0].journal if nodes and len(journals) == 1 else None
        self._position = len(self._journal) if self._journal is not None else 0
        self._spread = _spread_of(nodes)
        return self._spread


class ImageLocality:
    """Scores nodes by the pod's images they already hold.

    >>> from dralloc.api.core import Container, Pod, PodSpec
    >>> plugin = ImageLocality()
    >>> pod = PodInfo.of(Pod(spec=PodSpec(containers=[Container(image="nginx")])))
    >>> from dralloc.api.core import Node
    >>> plugin.score(CycleState(), pod, NodeInfo.of(Node()))[0]
    0
    """

    name = NAME
    # The score reads the pod, this node's images and the image spread over all nodes. The
    # spread changes only when a node's reported images do, which in dralloc means a node
    # added, replaced or removed: the cache then hands out a new node list and remembered
    # verdicts start afresh. So the plugin declares itself node-local; a cache that changed
    # a node's images in place, keeping its list, would leave other nodes' remembered
    # scores behind until their generations move.
    node_local = True

    def __init__(self, nodes: NodeLister | None = None) -> None:
        self._nodes = nodes
        self._memo = _SpreadMemo()

    def _current_spread(self, node: NodeInfo) -> _Spread:
        if self._nodes is None:
            return _spread_of((node,))
        return self._memo.spread(self._nodes())

    def uniform_score(self, state: CycleState, pod: PodInfo) -> int | None:
        """0 when no node of the snapshot holds any of the pod's images (`score` then adds
        nothing on any node), else None. Without a node lister it cannot tell: None."""
        if self._nodes is None:
            return None
        spec = pod.pod.spec
        if not spec.init_containers and not spec.containers:
            return 0
        held = self._memo.spread(self._nodes()).images
        if held and any(image in held for image in pod_images(pod.pod)):
            return None
        return 0

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> tuple[int, Status]:
        sizes = node.image_sizes
        spec = pod.pod.spec
        containers = len(spec.init_containers) + len(spec.containers)
        if not sizes or not containers:
            return 0, SUCCESS
        spread = self._current_spread(node)
        total = 0
        for image in pod_images(pod.pod):
            if image in sizes:
                size, holders = spread.images.get(image, (sizes[image], 1))
                total += int(size * (holders / max(spread.total, 1)))
        return calculate_priority(total, containers), SUCCESS
