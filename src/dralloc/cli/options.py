"""Options every command that reads manifests shares, as kubectl spells them.

Light on purpose (typer only): command modules declare their options with these at import,
which happens for every `dralloc --help`. `report_reading` is called once the files are read.

* `-f FILE|DIR` (repeatable; `-` is stdin) and `-R` to read folders recursively;
* `--validate=strict|warn|ignore`: what an unknown field does (kubectl's default is strict);
* `-v`: name the objects read and set aside (kinds dralloc has no use for).
"""

from __future__ import annotations

import sys
from collections import Counter
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from dralloc.api.io import FieldValidation
    from dralloc.cli.inputs import ClusterInput
    from dralloc.features import Features

__all__ = [
    "RecursiveOption",
    "Validate",
    "ValidateOption",
    "VerboseOption",
    "feature_gates",
    "field_validation",
    "report_reading",
]


class Validate(StrEnum):
    strict = "strict"
    warn = "warn"
    ignore = "ignore"


RecursiveOption = Annotated[
    bool,
    typer.Option(
        "-R",
        "--recursive",
        help="Read the folders given with -f recursively, as kubectl does.",
    ),
]
ValidateOption = Annotated[
    Validate,
    typer.Option(
        "--validate",
        metavar="strict|warn|ignore",
        help="What a field the Kubernetes API does not define does: strict (the default, as "
        "kubectl) makes it an input error naming the field meant, warn prints a warning, "
        "ignore drops it.",
    ),
]
VerboseOption = Annotated[
    bool,
    typer.Option(
        "-v",
        "--verbose",
        help="Name the objects read and set aside: kinds dralloc has no use for, such as "
        "ConfigMaps, Services or RBAC objects.",
    ),
]


def field_validation(value: Validate) -> FieldValidation:
    from dralloc.api.io import FieldValidation

    return FieldValidation(value.value)


def report_reading(cluster: ClusterInput, *, verbose: bool) -> None:
    """Warnings (unknown fields under --validate=warn) always; with -v, each kind set aside
    named once, with how many objects of it were read."""
    for warning in cluster.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if verbose and cluster.set_aside:
        counts = Counter(f"{item.kind} ({item.api_version})" for item in cluster.set_aside)
        listed = ", ".join(f"{count} {kind}" for kind, count in counts.items())
        sys.stderr.write(f"set aside, dralloc has no use for them: {listed}\n")


def feature_gates(gates: str) -> Features:
    """`--feature-gates` parsed as every command takes it: a bad pair exits 2 naming the flag;
    switching off a gate that 1.36 locks on warns that it emulates an older release."""
    from dralloc.features import FeatureGateError, parse_gates

    try:
        features = parse_gates(gates)
    except FeatureGateError as err:
        sys.stderr.write(f"--feature-gates: {err}\n")
        raise typer.Exit(2) from err
    for gate in features.emulated_off():
        sys.stderr.write(
            f"warning: feature gate {gate} is GA and locked on in Kubernetes 1.36; "
            "switching it off emulates an older release\n"
        )
    return features
