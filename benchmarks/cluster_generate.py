"""Fleet generation: seconds to build and encode a fleet as `dralloc cluster generate -o json`.

Cases (names are a contract; `--json` prints one object per line per case):
  dgx_h100_dynamic_mig   N DGX H100 nodes with dynamic MIG (8 GPUs x 26 devices each)
  dgx_h100_whole         N DGX H100 nodes, whole GPUs
  a100_static_mps        N 4x A100 80GB nodes, static MIG `all-balanced`, MPS-shared

Each case streams every document to a sink that only counts bytes, so disk speed is not
measured; `--out FILE` writes them instead. Run:
`python benchmarks/cluster_generate.py [--nodes N] [--case NAME ...] [--json] [--out FILE]`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dralloc.devices import load_catalog
from dralloc.devices.cluster import iter_cluster_json, parse_group

CASES = {
    "dgx_h100_dynamic_mig": "{n}xdgx-h100:mig=dynamic",
    "dgx_h100_whole": "{n}xdgx-h100",
    "a100_static_mps": "{n}xa100-80gb:gpus=4,mig=static,layout=all-balanced,sharing=mps",
}


def run(case: str, nodes: int, out: Path | None) -> dict[str, object]:
    catalog = load_catalog()
    groups = [parse_group(CASES[case].format(n=nodes))]
    started = time.perf_counter()
    size = documents = 0
    sink = out.open("wb") if out is not None else None
    try:
        for document in iter_cluster_json(groups, catalog):
            size += len(document) + 2
            documents += 1
            if sink is not None:
                sink.write(document + b",\n")
    finally:
        if sink is not None:
            sink.close()
    seconds = time.perf_counter() - started
    return {
        "case": case,
        "nodes": nodes,
        "documents": documents,
        "megabytes": round(size / 1e6, 1),
        "seconds": round(seconds, 2),
        "nodes_per_second": round(nodes / seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--case", action="append", choices=sorted(CASES))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    for case in args.case or list(CASES):
        figures = run(case, args.nodes, args.out)
        if args.json:
            print(json.dumps(figures), flush=True)
        else:
            print(
                f"{case:24} {figures['nodes']:>6} nodes  {figures['seconds']:>7} s  "
                f"{figures['megabytes']:>8} MB  {figures['nodes_per_second']:>6} nodes/s",
                flush=True,
            )


if __name__ == "__main__":
    main()
