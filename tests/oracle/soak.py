"""Soak run of the differential test: many generated cases through dralloc and `dra-oracle`.

    .venv/bin/python tests/oracle/soak.py --cases 100000 [--seed 1] [--keep DIR]

Prints a summary to stdout: cases run, time, outcomes by upstream status, agreements, known
disagreement classes (`known_disagreements.classify`) and unknown disagreements, and how many
failing outcomes agreed on the status but not on the message. With `--keep DIR`, every unknown
disagreement is written to DIR as a case file (the format of tests/data/oracle/). Exits 1 when
an unknown disagreement was found.

    .venv/bin/python tests/oracle/soak.py --shrink CLASS --out FILE [--cases N]

searches up to N cases for a disagreement of a known class (or `unknown` for any other),
shrinks it with hypothesis and writes it as a case file with what each side said.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hypothesis import HealthCheck, find, given, seed, settings
from known_disagreements import classify
from oracle_cases import cases

from oracle import Oracle, Outcome, compare, is_oracle_built, oracle_binary


@dataclass
class Summary:
    cases: int = 0
    seconds: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    edits: Counter[str] = field(default_factory=Counter)
    agreed: int = 0
    known: Counter[str] = field(default_factory=Counter)
    unknown: list[Outcome] = field(default_factory=list)
    messages_differ: Counter[str] = field(default_factory=Counter)
    message_pairs: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, outcome: Outcome, edits: list[str]) -> None:
        self.cases += 1
        self.statuses[outcome.status] += 1
        self.edits.update(edits)
        if outcome.agrees:
            self.agreed += 1
            if outcome.status in ("error", "node-failure") and outcome.message_differs:
                self.messages_differ[outcome.status] += 1
                pair = (outcome.dralloc.get("message", ""), outcome.upstream.get("message", ""))
                self.message_pairs[pair] = self.message_pairs.get(pair, 0) + 1
            return
        known = classify(outcome)
        if known is not None:
            self.known[known] += 1
        else:
            self.unknown.append(outcome)

    def lines(self) -> list[str]:
        rate = 100.0 * self.agreed / self.cases if self.cases else 0.0
        out = [
            f"cases: {self.cases} in {self.seconds:.1f} s"
            f" ({self.cases / max(self.seconds, 1e-9):.0f}/s)",
            f"agreed: {self.agreed} ({rate:.2f}%)",
            "upstream outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
            "edits applied: " + ", ".join(f"{k} {v}" for k, v in sorted(self.edits.items())),
            "same failing status, other message: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.messages_differ.items())) or "none"),
            "known disagreements: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.known.items())) or "none"),
            f"unknown disagreements: {len(self.unknown)}",
        ]
        out += [f"  {o.difference[:400]}" for o in self.unknown[:20]]
        if self.message_pairs:
            out.append("message pairs (count: dralloc | upstream), most common first:")
            ranked = sorted(self.message_pairs.items(), key=lambda item: -item[1])
            out += [f"  {n}: {mine} | {theirs}" for (mine, theirs), n in ranked[:30]]
        return out


def run(oracle: Oracle, count: int, random_seed: int) -> Summary:
    summary = Summary()
    started = time.monotonic()

    @seed(random_seed)
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases())
    def one(generated: tuple) -> None:
        case, edits = generated
        summary.add(compare(oracle, case), edits)

    one()
    summary.seconds = time.monotonic() - started
    return summary


def record_of(outcome: Outcome, known: str | None) -> dict[str, object]:
    """A case file: the case, its class (None for a case both sides agree on) and what each
    side said when it was recorded."""
    return {
        "class": known,
        "case": outcome.case.to_json(),
        "dralloc": outcome.dralloc,
        "upstream": outcome.upstream,
        "differences": outcome.differences,
    }


def keep(outcome: Outcome, directory: Path, number: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(record_of(outcome, None), indent=1) + "\n"
    (directory / f"unknown-{number:04d}.json").write_text(text)


def shrink(oracle: Oracle, wanted: str, count: int) -> Outcome:
    """The smallest case hypothesis finds whose disagreement is of class `wanted`."""

    def is_wanted(generated: tuple) -> bool:
        outcome = compare(oracle, generated[0])
        if outcome.agrees:
            return False
        return (classify(outcome) or "unknown") == wanted

    case, _ = find(
        cases(),
        is_wanted,
        settings=settings(
            max_examples=count,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    return compare(oracle, case)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, default=None)
    parser.add_argument("--shrink", default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not is_oracle_built():
        print(f"{oracle_binary()} is missing: run tools/build.sh", file=sys.stderr)
        return 2
    oracle = Oracle.start()
    if args.shrink is not None:
        try:
            outcome = shrink(oracle, args.shrink, args.cases)
        finally:
            oracle.close()
        known = None if args.shrink == "unknown" else args.shrink
        text = json.dumps(record_of(outcome, known), indent=1) + "\n"
        if args.out is None:
            print(text, end="")
        else:
            args.out.write_text(text)
        return 0
    try:
        summary = run(oracle, args.cases, args.seed)
    finally:
        oracle.close()
    print("\n".join(summary.lines()))
    if args.keep is not None:
        for number, outcome in enumerate(summary.unknown):
            keep(outcome, args.keep, number)
    return 1 if summary.unknown else 0


if __name__ == "__main__":
    sys.exit(main())
