"""Builders for queueing tests: Kueue manifests as YAML text, loaded through the real reader."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

from dralloc.queueing import QueueInput, QueueManager, QueueState, read_queue_files

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def load(tmp_path: Path, text: str, name: str = "kueue.yaml") -> QueueInput:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return read_queue_files([str(path)])


def setup(inputs: QueueInput) -> tuple[QueueState, QueueManager]:
    state = QueueState.build(inputs)
    manager = QueueManager(state)
    manager.add_all(inputs.workloads.values())
    return state, manager


def flavor(name: str, **labels: str) -> str:
    label_lines = "".join(f"\n    {k}: {v}" for k, v in labels.items())
    nodelabels = f"\n  nodeLabels:{label_lines}" if labels else ""
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata:
  name: {name}
spec:{nodelabels if labels else " {}"}
"""


def workload(
    name: str,
    queue: str,
    *,
    namespace: str = "team-a",
    cpu: str = "1",
    count: int = 1,
    gpu: str | None = None,
    priority: int | None = None,
    created: str = "2026-01-01T10:00:00Z",
    min_count: int | None = None,
    extra_pod_spec: str = "",
) -> str:
    gpu_line = f"\n              nvidia.com/gpu: {gpu}" if gpu else ""
    prio = f"\n  priority: {priority}" if priority is not None else ""
    minc = f"\n    minCount: {min_count}" if min_count is not None else ""
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: Workload
metadata:
  name: {name}
  namespace: {namespace}
  creationTimestamp: "{created}"
spec:
  queueName: {queue}{prio}
  podSets:
  - name: main
    count: {count}{minc}
    template:
      spec:{extra_pod_spec}
        containers:
        - name: c
          image: busybox
          resources:
            requests:
              cpu: "{cpu}"{gpu_line}
"""


def local_queue(name: str, cq: str, namespace: str = "team-a") -> str:
    return f"""
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata:
  name: {name}
  namespace: {namespace}
spec:
  clusterQueue: {cq}
"""


def docs(*parts: str) -> str:
    return "---".join(parts)
