"""DeviceTaintRules (resource.k8s.io/v1beta2, gate DRADeviceTaintRules, off in 1.36) add
taints to the devices they select (spec/dra-v1.md 2.9)."""

from __future__ import annotations

from dralloc.testing import Cluster, devices_of

BASE = """
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata: {name: c}
spec: {}
---
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: s}
spec:
  driver: d.example.com
  nodeName: node-1
  pool: {name: p, generation: 0, resourceSliceCount: 1}
  devices: [{name: a}, {name: b}]
---
apiVersion: resource.k8s.io/v1beta2
kind: DeviceTaintRule
metadata: {name: drain}
spec:
  %s
  taint: {key: maintenance, effect: NoSchedule}
---
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: x, namespace: default}
spec:
  devices:
    requests: [{name: r, exactly: {deviceClassName: c, count: %d}}]
"""
ON = "DRADeviceTaintRules=true"


def test_a_rule_is_ignored_while_its_gate_is_off() -> None:
    cluster = Cluster.from_yaml(BASE % ("deviceSelector: {device: a}", 1))
    result = cluster.allocate()
    assert result is not None and devices_of(result[0]) == [("r", "a")]


def test_a_rule_selecting_one_device_steers_the_claim_to_the_other() -> None:
    cluster = Cluster.from_yaml(BASE % ("deviceSelector: {device: a}", 1))
    result = cluster.allocate(gates=ON)
    assert result is not None and devices_of(result[0]) == [("r", "b")]


def test_an_empty_selector_taints_every_device() -> None:
    cluster = Cluster.from_yaml(BASE % ("deviceSelector: {}", 1))
    assert cluster.allocate(gates=ON) is None


def test_an_absent_selector_taints_nothing() -> None:
    cluster = Cluster.from_yaml(BASE % ("", 2))
    result = cluster.allocate(gates=ON)
    assert result is not None and len(result[0].devices.results) == 2


def test_a_rule_for_another_driver_does_not_apply() -> None:
    cluster = Cluster.from_yaml(BASE % ("deviceSelector: {driver: other.example.com}", 2))
    assert cluster.allocate(gates=ON) is not None


def test_explain_names_the_rule_taint() -> None:
    cluster = Cluster.from_yaml(BASE % ("deviceSelector: {pool: p}", 1))
    explanation = cluster.explain("x", gates=ON)
    verdicts = {d.device: (d.verdict, d.detail) for d in explanation.requests[0].devices}
    assert verdicts["d.example.com/p/a"] == ("untolerated taint", "maintenance=:NoSchedule")
    assert not explanation.fits
