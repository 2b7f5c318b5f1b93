"""`dralloc mig ...`: plan MIG layouts without touching a GPU.

`dralloc mig plan` answers whether a list of MIG instances fits on one GPU of a model (and
otherwise how many GPUs it needs, with which placements), and with `--current` how to reach
that layout from a GPU's present one destroying the fewest running instances -- the step users
otherwise do by cordoning, draining and relabelling nodes for mig-parted.

The computation lives in `dralloc.devices.migplan`; this module parses options, prints and
picks the exit code, with the contract of `dralloc.cli.main`: 0 the instances fit on one GPU
(or the reconfiguration exists), 1 they do not (the answer still says how many GPUs they
need), 2 invalid input, one stderr line per problem naming the option. Register it with
`app.add_typer(mig_app, name="mig")`.

Text output is plain, column-aligned lines rather than a rich table, so the nvidia-smi
commands are never wrapped or cut at the terminal's width and can be pasted as printed.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from dralloc.cli.commands import epilog
from dralloc.errors import InputError, NotFoundError

if TYPE_CHECKING:
    from dralloc.devices.catalog import GpuModel, MigProfile
    from dralloc.devices.mig import Placement
    from dralloc.devices.migplan import GpuPlan, Reconfiguration

__all__ = ["mig_app"]

# The exit codes of `dralloc.cli.main` (which imports this module, so they are not imported).
EXIT_OK = 0
EXIT_NO = 1
EXIT_INPUT = 2
# Width of one memory slice in the drawing: "1g.10gb" (7) plus its brackets.
SLICE_WIDTH = 9
LABEL_WIDTH = 14
# Stands for the GPU-instance ID nvidia-smi assigned; only `nvidia-smi mig -lgi` knows it.
GI_PLACEHOLDER = "GI_ID"
# The aliases of `dralloc.devices.cluster.GPU_ALIASES`, for the help without importing the
# catalog; a test checks that they agree.
MODEL_ALIASES = ("a100", "b200", "h100", "h200")

PLAN_EPILOG = epilog(
    [
        "dralloc mig plan -m h100 -p 3g.40gb,2x2g.20gb",
        "dralloc mig plan -m a100 -p all-1g.10gb -o json",
        "dralloc mig plan -m h100 -p all-balanced -c 1g.10gb@0,1g.10gb@1,3g.40gb@4",
    ],
    {
        EXIT_OK: "the instances fit on one GPU (and the GPU can be reconfigured to them)",
        EXIT_NO: "they do not fit on one GPU (the answer says how many GPUs they need)",
        EXIT_INPUT: "invalid input: one stderr line naming the option",
    },
)
mig_app = typer.Typer(
    help="Plan MIG layouts: what fits on a GPU, and how to change a GPU's layout.",
    short_help="Plan MIG layouts and their reconfiguration.",
    epilog=PLAN_EPILOG,
    no_args_is_help=True,
)


class PlanOutput(StrEnum):
    text = "text"
    yaml = "yaml"
    json = "json"


@mig_app.callback()
def mig_group() -> None:
    """Plan MIG layouts: what fits on a GPU, and how to change a GPU's layout."""
    # A callback keeps `mig` a command group even while `plan` is its only command.


@mig_app.command(
    "plan",
    short_help="Whether MIG instances fit on one GPU, and how to get there.",
    epilog=PLAN_EPILOG,
)
def plan_command(
    model_name: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            metavar="MODEL",
            help=f"A catalog GPU model (h100-80gb-sxm) or an alias ({', '.join(MODEL_ALIASES)}).",
        ),
    ],
    profiles_text: Annotated[
        list[str],
        typer.Option(
            "--profiles",
            "-p",
            metavar="PROFILES",
            help="Wanted instances, comma-separated (repeatable): 3g.40gb, 2x1g.10gb, "
            "1g.20gb*2, 1g.10gb+me, or a mig-parted layout all-<profile> / all-balanced.",
        ),
    ],
    current_text: Annotated[
        str | None,
        typer.Option(
            "--current",
            "-c",
            metavar="LAYOUT",
            help="The GPU's present instances as PROFILE@START,... (start = first memory "
            "slice, as in `nvidia-smi mig -lgi`); plans the change to --profiles.",
        ),
    ] = None,
    gpu_index: Annotated[
        int,
        typer.Option(
            "--gpu-index",
            min=0,
            metavar="INDEX",
            help="nvidia-smi index of the (first) GPU in the commands.",
        ),
    ] = 0,
    output: Annotated[
        PlanOutput, typer.Option("-o", "--output", help="Output format.")
    ] = PlanOutput.text,
) -> None:
    """Whether MIG instances fit on one GPU, how many GPUs they need, and how to get there.

    Exact: MIG placement rules, compute slices and instance limits, solved as bin packing.
    With --current it plans the change from the GPU's present instances that destroys the
    fewest, with the nvidia-smi mig commands to run. Text output is plain columns.
    """
    from dralloc.api.io import dump
    from dralloc.devices.migplan import (
        parse_layout,
        parse_profiles,
        plan_gpus,
        plan_reconfiguration,
    )

    model = _model(model_name)
    try:
        profiles = parse_profiles(model, profiles_text, field="--profiles")
    except InputError as err:
        _fail(EXIT_INPUT, str(err))
    current: list[Placement] | None = None
    if current_text is not None:
        try:
            current = parse_layout(model, current_text, field="--current")
        except InputError as err:
            _fail(EXIT_INPUT, str(err))
    plan = plan_gpus(model, profiles)
    step = plan_reconfiguration(model, current, profiles) if current is not None else None
    if output is PlanOutput.text:
        sys.stdout.write(_text(plan, current, step, gpu_index))
    else:
        document = _document(plan, current, step, gpu_index)
        sys.stdout.write(dump(document, output.value))
    raise typer.Exit(EXIT_OK if plan.fits_one_gpu else EXIT_NO)


# ------------------------------------------------------------------------------- input


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")


def _fail(code: int, message: str) -> NoReturn:
    _err(message)
    raise typer.Exit(code)


def _model(name: str) -> GpuModel:
    from dralloc.devices.catalog import load_catalog
    from dralloc.devices.cluster import GPU_ALIASES

    catalog = load_catalog()
    try:
        model = catalog.gpu(GPU_ALIASES.get(name, name))
    except NotFoundError:
        known = ", ".join(g.name for g in catalog.gpus if g.mig is not None)
        aliases = ", ".join(sorted(GPU_ALIASES))
        _fail(
            EXIT_INPUT,
            f"--model: unknown GPU model {name!r} (MIG-capable: {known}; aliases: {aliases})",
        )
    if model.mig is None:
        known = ", ".join(g.name for g in catalog.gpus if g.mig is not None)
        _fail(EXIT_INPUT, f"--model: {model.name} does not support MIG (MIG-capable: {known})")
    return model


# ---------------------------------------------------------------------------- commands


def _create_command(gpu: int, placement: Placement) -> str:
    # `-cgi PROFILE:START` places the instance (a profile tuple with a placement specifier);
    # `-C` also creates its default compute instance, so the MIG device is usable at once.
    profile = placement.profile
    return f"nvidia-smi mig -i {gpu} -cgi {profile.gi_profile_id}:{placement.start} -C"


def _destroy_command(gpu: int) -> str:
    # Compute instances go first: a GPU instance that still has one cannot be destroyed.
    return (
        f"nvidia-smi mig -i {gpu} -dci -gi {GI_PLACEHOLDER} && "
        f"nvidia-smi mig -i {gpu} -dgi -gi {GI_PLACEHOLDER}"
    )


def _gi_note(gpu: int) -> str:
    return (
        f"{GI_PLACEHOLDER}: the GPU instance ID that `nvidia-smi mig -i {gpu} -lgi` lists "
        "for that placement (column Placement Start:Size)."
    )


# -------------------------------------------------------------------------- structured


def _instance(placement: Placement) -> dict[str, Any]:
    return {
        "profile": placement.profile.name,
        "profileId": placement.profile.gi_profile_id,
        "start": placement.start,
        "size": placement.profile.memory_slices,
    }


def _document(
    plan: GpuPlan,
    current: list[Placement] | None,
    step: Reconfiguration | None,
    gpu_index: int,
) -> dict[str, Any]:
    """The answer with stable camelCase keys; `reconfiguration` is null without --current."""
    gpus = [
        {
            "index": gpu_index + i,
            "instances": [_instance(p) for p in gpu],
            "commands": [_create_command(gpu_index + i, p) for p in gpu],
        }
        for i, gpu in enumerate(plan.gpus)
    ]
    reconfiguration: dict[str, Any] | None = None
    if current is not None:
        reconfiguration = {
            "reachable": step is not None,
            "gpuIndex": gpu_index,
            "current": [_instance(p) for p in _by_start(current)],
            "keep": [_instance(p) for p in step.keep] if step else [],
            "destroy": [_instance(p) for p in step.destroy] if step else [],
            "create": [_instance(p) for p in step.create] if step else [],
            "layout": [_instance(p) for p in step.layout] if step else [],
            "commands": _step_commands(step, gpu_index) if step else [],
        }
    return {
        "model": plan.model.name,
        "productName": plan.model.product_name,
        "profiles": [p.name for p in plan.profiles],
        "fitsOneGpu": plan.fits_one_gpu,
        "gpusNeeded": plan.gpu_count,
        "lowerBound": plan.lower_bound,
        "minimal": plan.is_minimal,
        "gpus": gpus,
        "reconfiguration": reconfiguration,
    }


def _step_commands(step: Reconfiguration, gpu: int) -> list[str]:
    return [_destroy_command(gpu) for _ in step.destroy] + [
        _create_command(gpu, p) for p in step.create
    ]


# -------------------------------------------------------------------------------- text


def _text(
    plan: GpuPlan,
    current: list[Placement] | None,
    step: Reconfiguration | None,
    gpu_index: int,
) -> str:
    model = plan.model
    slices = model.mig.memory_slices if model.mig else 0
    lines = [f"{model.name} ({model.product_name}): {_verdict(plan)}", "", _ruler(slices)]
    if current is None:
        lines += _plan_lines(plan, gpu_index, slices)
    elif step is None:  # the target does not fit on one GPU
        lines += [_row(f"GPU {gpu_index + i}", gpu, slices) for i, gpu in enumerate(plan.gpus)]
        lines += ["", f"GPU {gpu_index} cannot be reconfigured to hold all of them."]
    else:
        lines += _reconfiguration_lines(current, step, gpu_index, slices)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _plan_lines(plan: GpuPlan, gpu_index: int, slices: int) -> list[str]:
    """Each GPU drawn, then the commands that create its instances."""
    lines = [_row(f"GPU {gpu_index + i}", gpu, slices) for i, gpu in enumerate(plan.gpus)]
    lines += ["", "Commands to create this layout on GPUs with MIG mode enabled:"]
    commands = [
        (_create_command(gpu_index + i, p), p) for i, gpu in enumerate(plan.gpus) for p in gpu
    ]
    width = max(len(command) for command, _ in commands)
    lines += [f"  {command.ljust(width)}  # {p}" for command, p in commands]
    return lines


def _reconfiguration_lines(
    current: list[Placement], step: Reconfiguration, gpu_index: int, slices: int
) -> list[str]:
    """The GPU now and after, then what to keep, destroy and create, with commands."""
    lines = [
        _row("now", _by_start(current), slices),
        _row("after", step.layout, slices),
        "",
    ]
    if step.is_noop:
        return [*lines, f"GPU {gpu_index} already has this layout: nothing to do."]
    lines.append(
        f"GPU {gpu_index}: keep {len(step.keep)}, destroy {len(step.destroy)}, "
        f"create {len(step.create)} (destroy first, then create):"
    )
    width = max(len(str(p)) for p in [*step.keep, *step.destroy, *step.create])
    lines += [f"  keep     {str(p).ljust(width)}" for p in step.keep]
    lines += [
        f"  destroy  {str(p).ljust(width)}  {_destroy_command(gpu_index)}" for p in step.destroy
    ]
    lines += [
        f"  create   {str(p).ljust(width)}  {_create_command(gpu_index, p)}" for p in step.create
    ]
    if step.destroy:
        lines += ["", _gi_note(gpu_index)]
    return lines


def _verdict(plan: GpuPlan) -> str:
    """`4g.40gb, 3g.40gb fit on one GPU.` or how many GPUs the request needs."""
    wanted = _summary(plan.profiles)
    if plan.fits_one_gpu:
        return f"{wanted} {'fits' if len(plan.profiles) == 1 else 'fit'} on one GPU."
    count = plan.gpu_count
    if plan.is_minimal:
        return f"{wanted} do not fit on one GPU; they need {count} GPUs."
    return (
        f"{wanted} do not fit on one GPU; they need at most {count} GPUs "
        f"(at least {plan.lower_bound}; the search stopped at its budget)."
    )


def _summary(profiles: tuple[MigProfile, ...]) -> str:
    """`4g.40gb, 2x1g.10gb`: the request in the --profiles syntax, first-seen order."""
    counts: dict[str, int] = {}
    for p in profiles:
        counts[p.name] = counts.get(p.name, 0) + 1
    return ", ".join(name if n == 1 else f"{n}x{name}" for name, n in counts.items())


def _ruler(slices: int) -> str:
    cells = "".join(str(i).ljust(SLICE_WIDTH) for i in range(slices))
    return ("memory slice".ljust(LABEL_WIDTH) + cells).rstrip()


def _row(label: str, layout: tuple[Placement, ...] | list[Placement], slices: int) -> str:
    """One GPU drawn on its memory slices: `[4g.40gb ... ][3g.40gb ... ]`, dots where free."""
    cells: list[str] = []
    owners = {p.start: p for p in layout}
    position = 0
    while position < slices:
        placement = owners.get(position)
        if placement is None:
            cells.append("." * SLICE_WIDTH)
            position += 1
            continue
        width = SLICE_WIDTH * placement.profile.memory_slices - 2
        cells.append(f"[{_label(placement.profile, width).ljust(width)}]")
        position += placement.profile.memory_slices
    return label.ljust(LABEL_WIDTH) + "".join(cells)


def _label(profile: MigProfile, width: int) -> str:
    """The profile's name, or `1g+me` when the name is wider than its window."""
    if len(profile.name) <= width:
        return profile.name
    short = profile.name.split(".")[0] + ("+me" if profile.is_media_extension else "")
    return short[:width]


def _by_start(layout: list[Placement]) -> tuple[Placement, ...]:
    return tuple(sorted(layout, key=lambda p: (p.start, p.profile.name)))
