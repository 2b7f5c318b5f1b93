"""`dralloc nodes ...`: simulated GPU nodes in a live cluster. Light at import (typer only):
a command imports `dralloc.kube` in its body."""

from __future__ import annotations

import typer

nodes_app = typer.Typer(
    help="Simulated GPU nodes in a real cluster: Nodes, their ResourceSlices and a kubelet "
    "that runs nothing.",
    short_help="Simulated GPU nodes in a real cluster.",
    no_args_is_help=True,
)
