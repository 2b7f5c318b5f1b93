"""`dralloc scheduler --queue-config FILE`: a Kueue Configuration's waitForPodsReady stanza,
refused with exit 2 and one line per problem naming the file and field before anything
starts."""

from __future__ import annotations

from pathlib import Path

from cli_kit import invoke, stderr_lines, write


def test_a_bad_wait_for_pods_ready_stanza_exits_2_naming_every_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "kueue.yaml",
        """apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
waitForPodsReady:
  timeout: 5x
  blockAdmission: yes-please
  requeuingStrategy:
    timestamp: Admission
    backoffLimitCount: -1
""",
    )
    result = invoke("scheduler", "--controllers", "queue", "--queue-config", path)
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"{path}: Configuration: waitForPodsReady.blockAdmission: expected true or false, "
        "got 'yes-please'",
        f"{path}: Configuration: waitForPodsReady.requeuingStrategy.backoffLimitCount: "
        "must be greater than or equal to 0, got -1",
        f"{path}: Configuration: waitForPodsReady.requeuingStrategy.timestamp: supported "
        'values: "Creation", "Eviction", got \'Admission\'',
        f"{path}: Configuration: waitForPodsReady.timeout: invalid duration '5x' "
        "(expected e.g. 30s, 5m, 1h30m)",
    ]


def test_a_configuration_of_another_kind_or_a_missing_file_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "sched.yaml", "apiVersion: v1\nkind: ConfigMap\n")
    result = invoke("scheduler", "--queue-config", path)
    assert result.exit_code == 2
    assert stderr_lines(result) == [
        f"{path}: apiVersion: expected config.kueue.x-k8s.io/v1beta2 or "
        "config.kueue.x-k8s.io/v1beta1, got 'v1'",
        f"{path}: kind: expected Configuration, got 'ConfigMap'",
    ]
    missing = str(tmp_path / "none.yaml")
    result = invoke("scheduler", "--queue-config", missing)
    assert result.exit_code == 2
    assert stderr_lines(result) == [f"{missing}: cannot read: No such file or directory"]
