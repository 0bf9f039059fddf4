"""``make faults``: every fault scenario against the full local stack, and the table of counts."""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Sequence
from typing import IO

from devstack.faults.harness import Harness, fault_stack
from devstack.faults.model import (
    FAST_ENV,
    FINALE_CHATS,
    TEMPLATE_ENV,
    WARM,
    Scenario,
    ScenarioResult,
)
from devstack.faults.suite import clock_scenarios, main_scenarios, template_scenarios

# --------------------------------------------------------------------------- reporting

HEADER = (
    f"{'scenario':<34} {'posted':>6} {'expected':>8} {'accepted':>8} {'dup':>4} {'lost':>4} "
    f"{'refused':>7} {'5xx':>4} {'hookerr':>7} {'settle s':>8}  checks"
)


def row(result: ScenarioResult) -> str:
    checks = "ok" if not result.problems else f"{len(result.problems)} failed"
    if result.known_bug:
        checks += f" ({result.verdict}: known bug)"
    return (
        f"{result.name[:34]:<34} {result.posted:>6} {result.expected:>8} {result.accepted:>8} "
        f"{result.duplicates:>4} {result.lost:>4} {result.refused:>7} {result.retried:>4} "
        f"{result.hook_errors:>7} {result.settle:>8.1f}  {checks}"
    )


def total(results: Sequence[ScenarioResult], name: str = "TOTAL") -> ScenarioResult:
    sum_ = ScenarioResult(name)
    for r in results:
        sum_.posted += r.posted
        sum_.expected += r.expected
        sum_.accepted += r.accepted
        sum_.duplicates += r.duplicates
        sum_.lost += r.lost
        sum_.refused += r.refused
        sum_.retried += r.retried
        sum_.hook_errors += r.hook_errors
        sum_.settle += r.settle
        sum_.problems += r.problems
    return sum_


def run_pass(
    harness: Harness,
    scenarios: Sequence[Scenario],
    out: IO[str],
    *,
    start: int = 1,
    count: int | None = None,
) -> list[ScenarioResult]:
    """Run the scenarios one after the other, printing a line (and any problem) for each."""
    results = []
    count = count or len(scenarios)
    for n, scenario in enumerate(scenarios, start=start):
        out.write(f"[{n:>2}/{count}] {scenario.name} ... ")
        out.flush()
        result = harness.run_scenario(scenario)
        results.append(result)
        out.write(
            f"{result.verdict}  ({result.expected} expected, {result.accepted} accepted, "
            f"{result.refused} refused, {result.duplicates} dup, {result.lost} lost, "
            f"{result.settle:.1f} s)\n"
        )
        if result.known_bug:
            out.write(f"        known product bug: {result.known_bug}\n")
        for problem in result.problems:
            out.write(f"        - {problem}\n")
        out.flush()
    return results


def report(results: Sequence[ScenarioResult], out: IO[str]) -> bool:
    """Print the table and the verdict; True when every scenario came out as expected."""
    grand = total(results)
    known = [r for r in results if r.known_bug]
    clean = total([r for r in results if not r.known_bug], "outside known bugs")
    out.write("\n" + HEADER + "\n" + "-" * len(HEADER) + "\n")
    for result in results:
        out.write(row(result) + "\n")
    out.write("-" * len(HEADER) + "\n" + row(grand) + "\n")
    if known:
        out.write(row(clean) + "\n")
    out.write(
        f"\n{clean.duplicates} duplicate sends, {clean.lost} lost requests, "
        f"{len(clean.problems)} failed checks in {len(results) - len(known)} scenarios"
    )
    if known:
        xpass = [r.name for r in known if r.verdict == "XPASS"]
        out.write(
            f"; {len(known)} known product bug(s) expected to fail: "
            f"{sum(r.duplicates for r in known)} duplicate sends, "
            f"{sum(r.lost for r in known)} lost"
        )
        if xpass:
            out.write(f"; now passing, drop their known_bug mark: {', '.join(xpass)}")
    out.write("\n")
    out.flush()
    return all(r.as_expected for r in results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devstack faults", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=None, help="the finale's random seed")
    parser.add_argument("--chats", type=int, default=FINALE_CHATS, help="chats in the finale")
    parser.add_argument(
        "--only", action="append", default=[], help="run only scenarios whose name holds this"
    )
    args = parser.parse_args(argv)
    seed = (
        args.seed
        if args.seed is not None
        else int(os.environ.get("FAULTS_SEED") or 0) or random.randrange(1, 10**6)
    )
    out = sys.stdout
    started = time.monotonic()
    main_list = [s for s in main_scenarios(args.chats) if _selected(s, args.only)]
    pass2 = [*template_scenarios(), *clock_scenarios()]
    tpl_list = [s for s in pass2 if _selected(s, args.only)]
    count = len(main_list) + len(tpl_list)
    out.write(f"Fault scenarios against the local stack (seed {seed}: FAULTS_SEED={seed})\n")
    out.flush()
    results: list[ScenarioResult] = []
    if main_list:
        out.write(f"Pass 1, no fallback template: {_env_line(FAST_ENV)}\n")
        with fault_stack(seed=seed, warm=WARM) as harness:
            results += run_pass(harness, main_list, out, count=count)
    if tpl_list:
        out.write(
            f"Pass 2, fallback template configured, short session gap: {_env_line(TEMPLATE_ENV)}\n"
        )
        with fault_stack(template=True, seed=seed) as harness:
            results += run_pass(harness, tpl_list, out, start=len(main_list) + 1, count=count)
    ok = report(results, out)
    out.write(f"wall time {time.monotonic() - started:.0f} s (seed {seed})\n")
    return 0 if ok else 1


def _selected(scenario: Scenario, only: list[str]) -> bool:
    return not only or any(o.lower() in scenario.name.lower() for o in only)


def _env_line(env: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in env.items())


if __name__ == "__main__":
    sys.exit(main())
