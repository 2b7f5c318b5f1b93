"""`dralloc nodes simulate` without a cluster: its help, every input error (exit 2, the file or
flag named, no traceback) and an API server that cannot be reached (exit 3, one line)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_kit import invoke, stderr_lines, write


def _kubeconfig(tmp_path: Path, server: str) -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}
        ],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    return write(tmp_path, "kubeconfig", yaml.safe_dump(config))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_help_names_the_options_and_loads_neither_the_client_nor_the_engine() -> None:
    program = """
import contextlib, io, json, sys
sys.argv = ["dralloc", "nodes", "simulate", "--help"]
from dralloc.cli.main import run
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        run()
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "help": out.getvalue(), "modules": sorted(sys.modules)}))
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=True
    )
    answer = json.loads(done.stdout)
    assert answer["code"] == 0
    for option in ("--nodes", "--kubeconfig", "--name-prefix", "--label", "--taint", "--keep"):
        assert option in answer["help"]
    assert "dralloc.io/simulated-duration" in answer["help"]
    heavy = ("dralloc.kube", "dralloc.devices", "lightkube", "httpx2", "numpy", "yaml")
    assert [m for m in answer["modules"] if m.split(".")[0] in heavy or m in heavy] == []


def test_the_nodes_group_lists_simulate() -> None:
    result = invoke("nodes", "--help")
    assert result.exit_code == 0
    assert "simulate" in result.stdout


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ([], "give node groups with --nodes COUNTxSHAPE or a cluster file with -f"),
        (
            ["--nodes", "16dgx-h100"],
            "--nodes: '16dgx-h100': expected COUNTxSHAPE[:option=value,...], "
            "e.g. 16xdgx-h100:mig=dynamic",
        ),
        (
            ["--nodes", "2xdgx-h100:mig=sometimes"],
            "--nodes: dgx-h100: mig must be none, static or dynamic, got 'sometimes'",
        ),
        (
            ["--nodes", "2xdgx-h100", "--name-prefix", "Big_"],
            "--nodes with --name-prefix Big_: dgx-h100: name 'Big_dgx-h100' must be a DNS label",
        ),
        (
            ["--nodes", "1xl4", "--label", "owner"],
            "--label 'owner': expected key=value, e.g. dralloc.dev/owner=dralloc",
        ),
        (
            ["--nodes", "1xl4", "--label", "-bad=x"],
            "--label '-bad': the name must be 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit",
        ),
        (
            ["--nodes", "1xl4", "--taint", "gpu=yes:Sometimes"],
            "--taint 'gpu=yes:Sometimes': the effect must be one of NoSchedule, "
            "PreferNoSchedule, NoExecute",
        ),
        (
            ["--nodes", "1xl4", "--taint", "gpu=yes"],
            "--taint 'gpu=yes': expected key=value:Effect, "
            "e.g. dralloc.dev/owner=dralloc:NoSchedule",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else "",
)
def test_bad_input_is_one_line_naming_the_flag_and_exit_2(args: list[str], line: str) -> None:
    result = invoke("nodes", "simulate", *args)
    assert result.exit_code == 2
    assert stderr_lines(result) == [line]


def test_an_unknown_feature_gate_is_named() -> None:
    result = invoke("nodes", "simulate", "--nodes", "1xl4", "--feature-gates", "NoSuchGate=true")
    assert result.exit_code == 2
    [line] = stderr_lines(result)
    assert line.startswith("--feature-gates: unknown feature gate 'NoSuchGate' (known: ")


def test_a_missing_cluster_file_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.yaml")
    result = invoke("nodes", "simulate", "-f", missing)
    assert result.exit_code == 2
    assert stderr_lines(result) == [f"{missing}: No such file or directory"]


def test_a_cluster_file_field_error_names_the_file_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cluster.yaml",
        "apiVersion: dralloc.io/v1alpha1\nkind: Cluster\nnodeGroups:\n- count: 2\n  shap: l4\n",
    )
    result = invoke("nodes", "simulate", "-f", path)
    assert result.exit_code == 2
    [line] = stderr_lines(result)
    assert line.startswith(f"{path}: Cluster: nodeGroups[0]")


def test_a_missing_kubeconfig_is_named(tmp_path: Path) -> None:
    missing = str(tmp_path / "absent.kubeconfig")
    result = invoke("nodes", "simulate", "--nodes", "1xl4", "--kubeconfig", missing)
    assert result.exit_code == 2
    assert stderr_lines(result) == [f"{missing}: no such file"]


def test_an_api_server_that_cannot_be_reached_is_one_error_line_and_exit_3(
    tmp_path: Path,
) -> None:
    server = f"https://127.0.0.1:{_closed_port()}"
    kubeconfig = _kubeconfig(tmp_path, server)
    result = invoke("nodes", "simulate", "--nodes", "1xl4", "--kubeconfig", kubeconfig)
    assert result.exit_code == 3
    lines = stderr_lines(result)
    assert len(lines) == 2, lines
    assert lines[0] == f"publishing 1 Node, 1 ResourceSlice, 9 DeviceClasses to {server}"
    assert lines[1].startswith(f"error: cannot reach the API server at {server}")
