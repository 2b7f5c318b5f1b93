"""Queues with Kueue's Topology-Aware Scheduling in the job-trace replay (`--queues ...+tas`):
the objects (`TopologyLayout`, the Topology, the flavor, the pod-set annotations), the
policy names, and the admission's domains, driven directly with a cluster that records what
it is given (so the domains are checked on their own, before any scheduler places a pod)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import pytest

from dralloc.errors import InputError
from dralloc.sim.batch_objects import (
    BLOCK_LABEL,
    HOSTNAME_LABEL,
    NODE_GROUP_LABEL,
    RACK_LABEL,
    BatchObjectOptions,
    TopologyLayout,
    batch_objects,
)
from dralloc.sim.job_replay import JobReplayOptions, job_replay, job_replay_options
from dralloc.sim.queue_replay import KueueAdmission, queue_policy
from dralloc.sim.replay import AdmissionCluster
from dralloc.sim.traces.jobs import BatchJob, JobTrace, Tenant

LAYOUT = TopologyLayout(rack_hosts=2, block_racks=2)  # 8-GPU hosts: 16 GPUs a rack


class RecordingCluster:
    """An `AdmissionCluster` that only records: which pods were released, with which
    nodeSelector, and which were evicted."""

    def __init__(self) -> None:
        self.released: dict[int, dict[str, str]] = {}
        self.evicted: list[int] = []

    def release(self, indices: Sequence[int]) -> None:
        self.released.update({index: {} for index in indices})

    def release_onto(
        self, indices: Sequence[int], node_selectors: Sequence[Mapping[str, str]]
    ) -> None:
        for index, selector in zip(indices, node_selectors, strict=True):
            self.released[index] = dict(selector)

    def place(self, group: str, indices: Sequence[int]) -> str | None:
        self.release(indices)
        return None

    def place_onto(
        self, group: str, indices: Sequence[int], node_selectors: Sequence[Mapping[str, str]]
    ) -> str | None:
        self.release_onto(indices, node_selectors)
        return None

    def placeable_without(
        self,
        group: str,
        indices: Sequence[int],
        victims: Sequence[int],
        node_selectors: Sequence[Mapping[str, str]] | None = None,
    ) -> str | None:
        return None  # room everywhere, as `place` has

    def evict(self, indices: Sequence[int]) -> None:
        self.evicted += indices
        for index in indices:
            self.released.pop(index, None)


def _trace(jobs: list[BatchJob], quota: int = 64) -> JobTrace:
    return JobTrace("test", tuple(jobs), (Tenant("a", quota),))


def _admit(
    trace: JobTrace, queues: str, layout: TopologyLayout = LAYOUT, nodes: int = 8
) -> tuple[KueueAdmission, RecordingCluster]:
    options = JobReplayOptions(nodes=nodes, topology=layout)
    replayed, _ = job_replay(trace, options)
    admission = KueueAdmission(
        trace, queue_policy(queues), replayed=replayed, layout=options.topology
    )
    for index in range(len(admission.owner)):
        admission.arrived(index, 0.0)
    cluster = RecordingCluster()
    admission.admit(0.0, cluster)
    return admission, cluster


def _racks(admission: KueueAdmission, cluster: RecordingCluster, key: str) -> set[str]:
    hosts = [cluster.released[i][HOSTNAME_LABEL] for i in admission.jobs[key].indices]
    return {admission.rack_of[h] for h in hosts}


def _key(admission: KueueAdmission, job: str) -> str:
    return next(k for k in admission.jobs if k.partition("/")[2].startswith(f"job-{job}-"))


# -------------------------------------------------------------------------------- objects


def test_layout_puts_consecutive_hosts_in_racks_and_racks_in_blocks() -> None:
    labels = LAYOUT.node_labels([f"n{i}" for i in range(5)])
    assert labels["n0"] == {
        NODE_GROUP_LABEL: "tas-node-group",
        BLOCK_LABEL: "block-0",
        RACK_LABEL: "rack-0",
        HOSTNAME_LABEL: "n0",
    }
    assert [labels[f"n{i}"][RACK_LABEL] for i in range(5)] == [
        "rack-0",
        "rack-0",
        "rack-1",
        "rack-1",
        "rack-2",
    ]
    assert labels["n4"][BLOCK_LABEL] == "block-1"


def test_topology_objects_are_kueues_and_gangs_carry_the_rack_annotation() -> None:
    jobs = [BatchJob("g", 0, 10, 2, 8, tenant="a"), BatchJob("big", 0, 10, 3, 8, tenant="a")]
    jobs.append(BatchJob("one", 0, 10, 1, 4, tenant="a"))
    required = TopologyLayout(rack_hosts=2, request="required")
    documents = batch_objects(_trace(jobs), BatchObjectOptions(topology=required))
    topology = next(d for d in documents if d["kind"] == "Topology")
    assert topology["apiVersion"] == "kueue.x-k8s.io/v1beta2"
    assert [level["nodeLabel"] for level in topology["spec"]["levels"]] == [
        BLOCK_LABEL,
        RACK_LABEL,
        HOSTNAME_LABEL,
    ]
    flavor = next(d for d in documents if d["kind"] == "ResourceFlavor")
    assert flavor["spec"] == {
        "nodeLabels": {NODE_GROUP_LABEL: "tas-node-group"},
        "topologyName": "default",
    }
    annotations = {
        d["metadata"]["name"]: d["spec"]["template"].get("metadata", {}).get("annotations")
        for d in documents
        if d["kind"] == "Job"
    }
    # A gang that fits one rack must stay in one; a larger one prefers it; one pod: none.
    assert annotations == {
        "g": {"kueue.x-k8s.io/podset-required-topology": RACK_LABEL},
        "big": {"kueue.x-k8s.io/podset-preferred-topology": RACK_LABEL},
        "one": None,
    }
    plain = batch_objects(_trace(jobs))
    assert not any(d["kind"] == "Topology" for d in plain)


def test_bad_layouts_and_trace_keys_name_the_key() -> None:
    with pytest.raises(InputError, match="rack_hosts: must be at least 1, got 0"):
        TopologyLayout(rack_hosts=0)
    with pytest.raises(InputError, match="topology: expected preferred or required"):
        job_replay_options("synthetic-jobs:jobs=5,topology=strict")
    with pytest.raises(InputError, match="block_racks: must be a positive number"):
        job_replay_options("synthetic-jobs:jobs=5,block_racks=0")
    options = job_replay_options("synthetic-jobs:jobs=5,rack_hosts=3,node_gpus=4")
    assert (options.topology.rack_hosts, options.topology.node_gpus) == (3, 4)


def test_tas_combines_with_placement_in_either_order_once() -> None:
    for name in ("fair+tas", "fair+placement+tas", "fair+tas+placement"):
        policy = queue_policy(name)
        assert policy is not None and policy.topology and policy.fair_sharing
        assert policy.placement == ("placement" in name)
    for bad in ("fair+tas+tas", "none+tas", "fifo+tas", "fair+racks"):
        with pytest.raises(ValueError, match="each may add \\+placement and \\+tas"):
            queue_policy(bad)


# ------------------------------------------------------------------------------ admission


def test_required_gangs_get_one_rack_each_and_hosts_are_never_overfilled() -> None:
    # 8 hosts of 8 GPUs in 4 racks of 16 GPUs. Four 2x8 gangs fill the four racks, a 4x4
    # gang fits nowhere then (every rack is full) and waits; the single pods too.
    jobs = [BatchJob(f"g{i}", 0, 100, 2, 8, tenant="a") for i in range(4)]
    jobs += [BatchJob("h", 0, 100, 4, 4, tenant="a"), BatchJob("s", 0, 100, 1, 2, tenant="a")]
    required = TopologyLayout(rack_hosts=2, block_racks=2, request="required")
    admission, cluster = _admit(_trace(jobs), "besteffortfifo+tas", required)
    gangs = [_key(admission, f"g{i}") for i in range(4)]
    assert all(admission.jobs[k].admitted for k in gangs)
    assert sorted(r for k in gangs for r in _racks(admission, cluster, k)) == [
        "rack-0",
        "rack-1",
        "rack-2",
        "rack-3",
    ]
    assert not admission.jobs[_key(admission, "h")].admitted
    assert not admission.jobs[_key(admission, "s")].admitted
    pending = admission.workloads[_key(admission, "h")].status.conditions[0].message
    assert "couldn't assign flavors to pod set main" in pending
    gpus = Counter[str]()
    for index, selector in cluster.released.items():
        gpus[selector[HOSTNAME_LABEL]] += admission.gpus_of[index]
    assert max(gpus.values()) <= 8


def test_domains_come_back_when_a_job_finishes() -> None:
    jobs = [BatchJob(f"g{i}", 0, 100, 2, 8, tenant="a") for i in range(5)]
    required = TopologyLayout(rack_hosts=2, block_racks=2, request="required")
    admission, cluster = _admit(_trace(jobs, quota=80), "strictfifo+tas", required)
    first, last = _key(admission, "g0"), _key(admission, "g4")
    assert not admission.jobs[last].admitted
    for index in admission.jobs[first].indices:
        admission.started(index, 0.0)
    for index in admission.jobs[first].indices:
        admission.stopped(index, 100.0)
    admission.admit(100.0, cluster)
    assert admission.jobs[last].admitted
    assert _racks(admission, cluster, last) == _racks(admission, cluster, first)


def test_preferred_gang_too_big_for_a_rack_spans_the_fewest() -> None:
    jobs = [BatchJob("big", 0, 100, 3, 8, tenant="a")]
    admission, cluster = _admit(_trace(jobs), "besteffortfifo+tas")
    assert len(_racks(admission, cluster, _key(admission, "big"))) == 2


def test_without_tas_pods_are_released_without_a_domain() -> None:
    jobs = [BatchJob("g", 0, 100, 2, 8, tenant="a")]
    _, cluster = _admit(_trace(jobs), "besteffortfifo")
    assert cluster.released == {0: {}, 1: {}}


def test_racks_spanned_and_cross_rack_jobs_count_where_pods_ran() -> None:
    jobs = [BatchJob("g", 0, 100, 2, 8, tenant="a"), BatchJob("k", 0, 100, 2, 8, tenant="a")]
    jobs.append(BatchJob("s", 0, 100, 1, 8, tenant="a"))
    admission, _ = _admit(_trace(jobs), "besteffortfifo")
    hosts = sorted(admission.rack_of)
    placed: list[str | None] = [hosts[0], hosts[1], hosts[1], hosts[2], hosts[3]]
    assert admission.racks_spanned(placed) == {_key(admission, "g"): 1, _key(admission, "k"): 2}
    (stats,) = admission.queue_stats(0.0, placed)
    assert (stats.gangs_started, stats.cross_rack_jobs) == (2, 1)
    (without,) = admission.queue_stats(0.0)
    assert (without.gangs_started, without.cross_rack_jobs) == (0, 0)


def test_recording_cluster_has_every_method_of_the_admission_cluster() -> None:
    wanted = {name for name in vars(AdmissionCluster) if not name.startswith("_")}
    assert {"release_onto", "place_onto"} <= wanted
    assert wanted <= {name for name in vars(RecordingCluster) if not name.startswith("_")}


def test_a_node_leaving_takes_its_domain_away_and_the_job_is_placed_elsewhere() -> None:
    jobs = [BatchJob("g", 0, 100, 2, 8, tenant="a")]
    required = TopologyLayout(rack_hosts=2, block_racks=2, request="required")
    admission, cluster = _admit(_trace(jobs), "besteffortfifo+tas", required, nodes=4)
    key = _key(admission, "g")
    indices = admission.jobs[key].indices
    for index in indices:
        admission.started(index, 0.0)
    gone = cluster.released[indices[0]][HOSTNAME_LABEL]
    admission.node_removed(gone, indices, 10.0, cluster)
    assert cluster.evicted == list(indices)
    assert admission.jobs[key].node_evictions == 1
    admission.admit(10.0, cluster)
    assert admission.jobs[key].admitted
    hosts = {cluster.released[i][HOSTNAME_LABEL] for i in indices}
    assert gone not in hosts and len(_racks(admission, cluster, key)) == 1
