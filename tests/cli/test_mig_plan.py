"""`dralloc mig plan`: the command-line contract. Exit 0 when the instances fit on one GPU
(or the reconfiguration exists), 1 when they do not (the answer still says how many GPUs),
2 for bad input with one stderr line naming the option; text, YAML and JSON answers.

The sub-app is mounted here exactly as `dralloc.cli.main` mounts it
(`app.add_typer(mig_app, name="mig")`), so these tests hold before and after registration."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
import yaml
from click.testing import Result
from typer.testing import CliRunner

from dralloc.cli.mig import mig_app
from dralloc.devices import load_catalog
from dralloc.devices.cluster import GPU_ALIASES

SEVEN_1G = ",".join(f"1g.10gb@{s}" for s in range(7))
KNOWN_H100 = (
    "1g.10gb, 1g.10gb+me, 1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb; or all-<profile>, "
    "all-balanced"
)
MIG_MODELS = ", ".join(g.name for g in load_catalog().gpus if g.mig is not None)
ALIASES = ", ".join(sorted(GPU_ALIASES))
DOCUMENT_KEYS = [
    "model",
    "productName",
    "profiles",
    "fitsOneGpu",
    "gpusNeeded",
    "lowerBound",
    "minimal",
    "gpus",
    "reconfiguration",
]


def dralloc() -> typer.Typer:
    app = typer.Typer(name="dralloc", add_completion=False, pretty_exceptions_enable=False)
    app.add_typer(mig_app, name="mig")
    return app


def plan(*args: str) -> Result:
    """Run `dralloc mig plan ARGS...` in-process; it must end through its exit code."""
    result = CliRunner().invoke(dralloc(), ["mig", "plan", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result


def rejected(*args: str) -> list[str]:
    result = plan(*args)
    assert result.exit_code == 2, result.stdout + result.stderr
    assert result.stdout == ""
    return result.stderr.splitlines()


def document(*args: str, output: str = "json") -> tuple[int, dict[str, Any]]:
    result = plan(*args, "-o", output)
    parsed = json.loads(result.stdout) if output == "json" else yaml.safe_load(result.stdout)
    assert isinstance(parsed, dict)
    assert list(parsed) == DOCUMENT_KEYS
    return result.exit_code, parsed


# ----------------------------------------------------------------------------- answers


def test_instances_that_fit_exit_0_with_a_drawing_and_the_commands() -> None:
    result = plan("--model", "h100-80gb-sxm", "--profiles", "4g.40gb,3g.40gb")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert result.stdout.splitlines() == [
        "h100-80gb-sxm (NVIDIA H100 80GB HBM3): 4g.40gb, 3g.40gb fit on one GPU.",
        "",
        "memory slice  0        1        2        3        4        5        6        7",
        "GPU 0         [4g.40gb                           ][3g.40gb                           ]",
        "",
        "Commands to create this layout on GPUs with MIG mode enabled:",
        "  nvidia-smi mig -i 0 -cgi 5:0 -C  # 4g.40gb@0",
        "  nvidia-smi mig -i 0 -cgi 9:4 -C  # 3g.40gb@4",
    ]


def test_instances_that_need_two_gpus_exit_1_and_say_how_many() -> None:
    result = plan("-m", "h100", "-p", "2x4g.40gb")
    assert result.exit_code == 1
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "h100-80gb-sxm (NVIDIA H100 80GB HBM3): 2x4g.40gb do not fit on one GPU; they need 2 GPUs."
    )
    assert lines[3:5] == [
        "GPU 0         [4g.40gb                           ]....................................",
        "GPU 1         [4g.40gb                           ]....................................",
    ]
    assert "  nvidia-smi mig -i 1 -cgi 5:0 -C  # 4g.40gb@0" in lines


def test_eight_1g_need_two_gpus() -> None:
    code, answer = document("-m", "h100", "-p", "8x1g.10gb")
    assert (code, answer["gpusNeeded"], answer["fitsOneGpu"]) == (1, 2, False)


@pytest.mark.parametrize("alias", ["h100", "a100", "h200", "b200"])
def test_a_gpu_alias_names_the_same_model_as_cluster_generate(alias: str) -> None:
    code, answer = document("-m", alias, "-p", "all-balanced")
    assert code == 0
    assert answer["model"] in ("h100-80gb-sxm", "a100-80gb", "h200-141gb", "b200")
    assert answer["model"].startswith(alias)


def test_a_media_extension_instance_is_drawn_by_its_short_name() -> None:
    result = plan("-m", "h100", "-p", "1g.10gb+me")
    assert result.stdout.splitlines()[3].startswith("GPU 0         [1g+me  ]......")


def test_the_json_answer_has_stable_camel_case_keys() -> None:
    code, answer = document("-m", "h100", "-p", "4g.40gb,3g.40gb", "--gpu-index", "2")
    assert code == 0
    assert answer == {
        "model": "h100-80gb-sxm",
        "productName": "NVIDIA H100 80GB HBM3",
        "profiles": ["4g.40gb", "3g.40gb"],
        "fitsOneGpu": True,
        "gpusNeeded": 1,
        "lowerBound": 1,
        "minimal": True,
        "gpus": [
            {
                "index": 2,
                "instances": [
                    {"profile": "4g.40gb", "profileId": 5, "start": 0, "size": 4},
                    {"profile": "3g.40gb", "profileId": 9, "start": 4, "size": 4},
                ],
                "commands": [
                    "nvidia-smi mig -i 2 -cgi 5:0 -C",
                    "nvidia-smi mig -i 2 -cgi 9:4 -C",
                ],
            }
        ],
        "reconfiguration": None,
    }


def test_the_yaml_answer_is_the_json_answer() -> None:
    args = ("-m", "h100", "-p", "3g.40gb,2x1g.10gb", "-c", "1g.10gb@0,1g.10gb@1,1g.10gb@5")
    assert document(*args, output="yaml") == document(*args, output="json")


# ------------------------------------------------------------------------ reconfiguration


def test_a_reconfiguration_lists_keep_destroy_and_create_with_commands() -> None:
    current = "1g.10gb@0,1g.10gb@1,1g.10gb@5"
    result = plan("-m", "h100", "-p", "3g.40gb,2x1g.10gb", "-c", current, "--gpu-index", "3")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "h100-80gb-sxm (NVIDIA H100 80GB HBM3): 3g.40gb, 2x1g.10gb fit on one GPU.",
        "",
        "memory slice  0        1        2        3        4        5        6        7",
        "now           [1g.10gb][1g.10gb]...........................[1g.10gb]..................",
        "after         [1g.10gb][1g.10gb]..................[3g.40gb                           ]",
        "",
        "GPU 3: keep 2, destroy 1, create 1 (destroy first, then create):",
        "  keep     1g.10gb@0",
        "  keep     1g.10gb@1",
        "  destroy  1g.10gb@5  nvidia-smi mig -i 3 -dci -gi GI_ID && "
        "nvidia-smi mig -i 3 -dgi -gi GI_ID",
        "  create   3g.40gb@4  nvidia-smi mig -i 3 -cgi 9:4 -C",
        "",
        "GI_ID: the GPU instance ID that `nvidia-smi mig -i 3 -lgi` lists for that placement "
        "(column Placement Start:Size).",
    ]


def test_a_reconfiguration_in_json_names_every_instance() -> None:
    code, answer = document("-m", "h100", "-p", "4g.40gb,3g.40gb", "-c", SEVEN_1G)
    assert code == 0
    step = answer["reconfiguration"]
    assert step["reachable"] is True
    assert step["keep"] == []
    assert [i["start"] for i in step["destroy"]] == list(range(7))
    assert [(i["profile"], i["start"]) for i in step["create"]] == [
        ("4g.40gb", 0),
        ("3g.40gb", 4),
    ]
    assert step["layout"] == step["create"]
    assert len(step["commands"]) == 9
    assert step["commands"][-1] == "nvidia-smi mig -i 0 -cgi 9:4 -C"


def test_a_layout_already_in_place_needs_nothing() -> None:
    result = plan("-m", "h100", "-p", "4g.40gb", "-c", "4g.40gb@0")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "GPU 0 already has this layout: nothing to do."


def test_a_target_beyond_one_gpu_exits_1_and_cannot_be_reconfigured() -> None:
    result = plan("-m", "h100", "-p", "2x4g.40gb", "-c", "4g.40gb@0")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].endswith("do not fit on one GPU; they need 2 GPUs.")
    assert lines[-1] == "GPU 0 cannot be reconfigured to hold all of them."
    code, answer = document("-m", "h100", "-p", "2x4g.40gb", "-c", "4g.40gb@0")
    assert code == 1
    assert answer["reconfiguration"]["reachable"] is False
    assert answer["reconfiguration"]["create"] == []


def test_an_empty_current_layout_is_an_empty_gpu() -> None:
    code, answer = document("-m", "h100", "-p", "7g.80gb", "-c", "")
    assert code == 0
    assert answer["reconfiguration"]["create"][0]["profile"] == "7g.80gb"


# ---------------------------------------------------------------------------- bad input


def test_an_unknown_model_lists_the_mig_models_and_aliases() -> None:
    assert rejected("-m", "h1000", "-p", "1g.10gb") == [
        f"--model: unknown GPU model 'h1000' (MIG-capable: {MIG_MODELS}; aliases: {ALIASES})"
    ]


def test_a_model_without_mig_is_refused() -> None:
    assert rejected("-m", "l4", "-p", "1g.10gb") == [
        f"--model: l4 does not support MIG (MIG-capable: {MIG_MODELS})"
    ]


def test_an_unknown_profile_lists_the_models_profiles() -> None:
    assert rejected("-m", "h100", "-p", "4g.40gb,5g.50gb") == [
        f"--profiles: unknown MIG profile '5g.50gb' for h100-80gb-sxm (known: {KNOWN_H100})"
    ]


def test_bad_profile_syntax_names_each_term() -> None:
    assert rejected("-m", "h100", "-p", "0x1g.10gb,1g.10gb*many") == [
        "--profiles: '0x1g.10gb': the count must be at least 1",
        "--profiles: '1g.10gb*many': a count must be a whole number such as 2x1g.10gb",
    ]


def test_no_profiles_is_bad_input() -> None:
    assert rejected("-m", "h100", "-p", "") == [
        "--profiles: no profiles given (expected e.g. 3g.40gb,2x1g.10gb)"
    ]


def test_a_current_layout_the_hardware_cannot_hold_is_bad_input() -> None:
    assert rejected("-m", "h100", "-p", "1g.10gb", "-c", "4g.40gb@0,1g.10gb@2") == [
        "--current: 4g.40gb@0 and 1g.10gb@2 both use memory slice 2"
    ]


def test_a_current_instance_at_an_illegal_start_is_bad_input() -> None:
    assert rejected("-m", "h100", "-p", "1g.10gb", "-c", "1g.10gb@7,3g.40gb") == [
        "--current: '1g.10gb@7': 1g.10gb cannot start at memory slice 7 "
        "(legal starts: 0, 1, 2, 3, 4, 5, 6)",
        "--current: '3g.40gb': expected PROFILE@START such as 3g.40gb@4",
    ]


def test_an_unknown_output_format_is_a_usage_error() -> None:
    result = plan("-m", "h100", "-p", "1g.10gb", "-o", "xml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "xml" in result.stderr


def test_missing_required_options_are_usage_errors() -> None:
    assert plan("-m", "h100").exit_code == 2
    assert plan("-p", "1g.10gb").exit_code == 2


def test_mig_without_a_command_shows_help() -> None:
    result = CliRunner().invoke(dralloc(), ["mig"])
    assert "plan" in result.stdout + result.stderr
