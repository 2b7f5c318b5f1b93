"""`kind: Autoscaling` files for the tests of tests/sim, written once: `autoscaling_text` puts
a file together from its parts (`shape`, `group`, `pool`, a predictor, a sizing section),
`write_autoscaling` writes it into a folder, `load` parses it as `dralloc` would read it.

The defaults are the L4 fleet the replay tests use: one shape `l4x2` (2 fractional L4 GPUs,
$2/h on demand) with fixed, short provisioning delays (`FAST`: Ready-to-devices 3 min).

    text = autoscaling_text(
        mode="cluster-autoscaler",
        groups=[group("small", "l4x2", max_size=8, min_size=1)],
        predictor=predictor("seasonal-naive", q=0.8, period="1h", step=300),
        sizing=sizing(wait_p95="600s"),
    )
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dralloc.autoscaling import parse_autoscaling_text
from dralloc.autoscaling.config import AutoscalingConfig
from dralloc.devices.catalog import Catalog

FAST = '{launch: "fixed:60", register: "fixed:30", ready: "fixed:30", devices: "fixed:60"}'


def shape(
    name: str = "l4x2",
    *,
    model: str = "l4",
    gpus: int = 2,
    sharing: str = "fractional",
    price: str = "{onDemand: 2.0}",
    provisioning: str | None = FAST,
) -> str:
    """One entry of `shapes:`; `provisioning=None` leaves the file's default delays."""
    lines = [
        f"- name: {name}",
        f"  shape: {model}",
        f"  gpus: {gpus}",
        f"  sharing: {sharing}",
        f"  price: {price}",
    ]
    if provisioning is not None:
        lines.append(f"  provisioning: {provisioning}")
    return "\n".join(lines) + "\n"


def group(
    name: str,
    shape_name: str,
    *,
    max_size: int,
    min_size: int | None = None,
    capacity_type: str | None = None,
) -> str:
    """One entry of `nodeGroups:` (`min` left out when None: the file's default, 0)."""
    fields = [f"name: {name}", f"shape: {shape_name}"]
    if min_size is not None:
        fields.append(f"min: {min_size}")
    fields.append(f"max: {max_size}")
    if capacity_type is not None:
        fields.append(f"capacityType: {capacity_type}")
    return "- {" + ", ".join(fields) + "}\n"


def pool(name: str, shapes: Sequence[str], limits: str | None = None) -> str:
    """One entry of `nodePools:` (Karpenter's NodePool: its shapes and optional limits)."""
    fields = [f"name: {name}", f"shapes: [{', '.join(shapes)}]"]
    if limits is not None:
        fields.append(f"limits: {limits}")
    return "- {" + ", ".join(fields) + "}\n"


def predictor(forecaster: str, *, q: float | None = None, **knobs: object) -> str:
    """The `predictor:` section: `forecaster`, the quantile `q` and any other field as given."""
    fields = [f"forecaster: {forecaster}"]
    if q is not None:
        fields.append(f"q: {q:g}")
    fields += [f"{key}: {value}" for key, value in knobs.items()]
    return "predictor: {" + ", ".join(fields) + "}\n"


def sizing(
    wait_p95: str = "600s", *, shapes: Sequence[str] | None = None, budget: int | None = None
) -> str:
    """The `sizing:` section (§9.6): the p95 wait target, the searched shapes, the run budget."""
    fields = [f"constraint: {{waitP95: {wait_p95}}}"]
    if shapes is not None:
        fields.append(f"shapes: [{', '.join(shapes)}]")
    if budget is not None:
        fields.append(f"budget: {budget}")
    return "sizing: {" + ", ".join(fields) + "}\n"


def autoscaling_text(
    mode: str = "static",
    *,
    shapes: Sequence[str] = (),
    groups: Sequence[str] = (),
    pools: Sequence[str] = (),
    options: str | None = None,
    predictor: str = "",
    sizing: str = "",
    name: str | None = None,
) -> str:
    """A whole file: `shapes` default to `[shape()]`; a file without groups or pools gets none
    of those keys; `predictor` and `sizing` are sections as their builders write them."""
    parts = ["apiVersion: dralloc.io/v1alpha1\n", "kind: Autoscaling\n"]
    if name is not None:
        parts.append(f"metadata: {{name: {name}}}\n")
    parts.append(f"mode: {mode}\n")
    parts.append("shapes:\n" + "".join(shapes or [shape()]))
    if groups:
        parts.append("nodeGroups:\n" + "".join(groups))
    if pools:
        parts.append("nodePools:\n" + "".join(pools))
    if options is not None:
        parts.append(f"options: {options}\n")
    return "".join(parts) + predictor + sizing


def write_autoscaling(folder: Path, text: str, name: str = "autoscaling.yaml") -> Path:
    """`text` as the file `name` in `folder`; its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load(text: str, catalog: Catalog, file: str = "fleet.yaml") -> AutoscalingConfig:
    """`text` read as dralloc reads the file `file` (its problems raise InputError)."""
    return parse_autoscaling_text(text, file, catalog=catalog)
