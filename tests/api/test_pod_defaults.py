"""Pod defaulting as the API server stores pods (`SetDefaults_Pod`, `SetDefaults_ResourceList`):
requests from limits for containers and init containers, pod-level requests (KEP-2837), and
quantities rounded up to milli-units. Also the new wire fields round-trip with their names."""

from __future__ import annotations

import textwrap
from typing import Any

from dralloc.api.core import Pod
from dralloc.api.defaults import apply_defaults, is_restartable_init_container
from dralloc.api.io import kube_dict, load_text


def _pod(spec: str) -> Pod:
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n" + textwrap.indent(
        textwrap.dedent(spec).strip(), "  "
    )
    objects, problems = load_text(text + "\n", "pod.yaml")
    assert problems == []
    (loaded,) = objects
    assert isinstance(loaded.obj, Pod)
    return loaded.obj


def _spec(pod: Pod) -> Any:
    return kube_dict(pod)["spec"]


def test_limits_without_requests_become_requests_for_containers_and_init_containers() -> None:
    pod = _pod(
        """
        initContainers:
        - name: init
          resources: {limits: {cpu: "2"}}
        - name: proxy
          restartPolicy: Always
          resources: {limits: {memory: 64Mi}, requests: {cpu: 100m}}
        containers:
        - name: app
          resources:
            requests: {cpu: 500m}
            limits: {cpu: "1", memory: 1Gi, nvidia.com/gpu: "1"}
        """
    )
    spec = _spec(pod)
    assert spec["containers"][0]["resources"]["requests"] == {
        "cpu": "500m",
        "memory": "1Gi",
        "nvidia.com/gpu": "1",
    }
    assert spec["initContainers"][0]["resources"]["requests"] == {"cpu": "2"}
    assert spec["initContainers"][1]["resources"]["requests"] == {"cpu": "100m", "memory": "64Mi"}
    assert spec["initContainers"][1]["restartPolicy"] == "Always"
    assert [is_restartable_init_container(c) for c in pod.spec.init_containers] == [False, True]


def test_a_container_without_limits_is_left_as_it_is() -> None:
    spec = _spec(_pod("containers:\n- name: app\n  resources: {requests: {cpu: 1}}"))
    assert spec["containers"][0]["resources"] == {"requests": {"cpu": "1"}}
    assert "resources" not in spec and "overhead" not in spec


def test_pod_level_limits_alone_become_pod_level_requests() -> None:
    spec = _spec(
        _pod(
            """
            resources: {limits: {cpu: "4", memory: 2Gi, hugepages-2Mi: 4Mi}}
            containers:
            - name: app
            """
        )
    )
    assert spec["resources"]["requests"] == {"cpu": "4", "memory": "2Gi", "hugepages-2Mi": "4Mi"}


def test_pod_level_requests_default_to_the_containers_combined_requests_first() -> None:
    spec = _spec(
        _pod(
            """
            resources: {limits: {cpu: "4", memory: 4Gi}, requests: {memory: 1Gi}}
            initContainers:
            - name: proxy
              restartPolicy: Always
              resources: {requests: {cpu: 250m}}
            - name: init
              resources: {requests: {cpu: "1"}}
            containers:
            - name: a
              resources: {limits: {cpu: 500m}}
            - name: b
              resources: {requests: {cpu: 250m}}
            """
        )
    )
    # cpu: max(500m + 250m + 250m sidecar, 1 + 250m sidecar) = 1250m; memory was given.
    assert spec["resources"]["requests"] == {"memory": "1Gi", "cpu": "1250m"}


def test_pod_level_hugepages_requests_follow_the_pod_level_limit_not_the_containers() -> None:
    spec = _spec(
        _pod(
            """
            resources: {limits: {hugepages-2Mi: 8Mi}}
            containers:
            - name: app
              resources: {limits: {hugepages-2Mi: 4Mi}}
            """
        )
    )
    assert spec["resources"]["requests"] == {"hugepages-2Mi": "8Mi"}


def test_pod_level_requests_without_pod_level_limits_are_not_defaulted() -> None:
    spec = _spec(
        _pod(
            """
            resources: {requests: {cpu: "2"}}
            containers:
            - name: app
              resources: {requests: {memory: 1Gi}}
            """
        )
    )
    assert spec["resources"] == {"requests": {"cpu": "2"}}


def test_quantities_are_rounded_up_to_milli_units() -> None:
    spec = _spec(
        _pod(
            """
            overhead: {cpu: 1500u}
            containers:
            - name: app
              resources: {requests: {cpu: 100u}, limits: {cpu: 1001u, memory: "0.5"}}
            """
        )
    )
    assert spec["containers"][0]["resources"] == {
        "requests": {"cpu": "1m", "memory": "500m"},
        "limits": {"cpu": "2m", "memory": "500m"},
    }
    assert spec["overhead"] == {"cpu": "2m"}


def test_defaulting_twice_changes_nothing() -> None:
    pod = _pod(
        """
        resources: {limits: {cpu: "4"}}
        overhead: {memory: 120Mi}
        initContainers:
        - {name: init, resources: {limits: {cpu: 10m}}}
        containers:
        - {name: app, resources: {limits: {cpu: "1"}}}
        """
    )
    before = kube_dict(pod)
    apply_defaults(pod)
    assert kube_dict(pod) == before
    assert before["spec"]["resources"]["requests"] == {"cpu": "1"}
