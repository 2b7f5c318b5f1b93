"""Installing the projects' CustomResourceDefinitions that tools/build.sh fetched (JobSet,
LeaderWorkerSet, Kueue: tools/crds/modules.txt) on a test's kube-apiserver."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
import yaml
from controlplane import ApiServer, is_k8s_required, k8s_home

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
KUEUE_CRD_FILES = tuple(
    f"kueue.x-k8s.io_{name}.yaml"
    for name in (
        "resourceflavors",
        "clusterqueues",
        "localqueues",
        "cohorts",
        "workloadpriorityclasses",
        "workloads",
        "topologies",
        "admissionchecks",
    )
)


def install_crds(apiserver: ApiServer, files: Sequence[str], served: Sequence[str]) -> None:
    """Create the CRDs of `files` and wait until every group/version of `served` is served;
    skip (fail with DRALLOC_REQUIRE_K8S=1) when tools/build.sh has not fetched them."""
    directory = k8s_home() / "crds"
    missing = [f for f in files if not (directory / f).is_file()]
    if missing:
        message = f"{', '.join(missing)} not in {directory}: run tools/build.sh"
        if is_k8s_required():
            pytest.fail(f"{message} (DRALLOC_REQUIRE_K8S=1)", pytrace=False)
        pytest.skip(message)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for file in files:
        crd = yaml.load((directory / file).read_text(), Loader=loader)
        apiserver.admin.create(CRDS, crd).raise_for_status()
    for group_version in served:
        for _ in range(300):
            if apiserver.admin.get(f"/apis/{group_version}").status == 200:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"{group_version} not served 30 s after its CRD was created")
