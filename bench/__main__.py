"""`make bench`: runs every bench module and writes the figures to bench/results.json (a flat JSON object).

Each module `bench/bench_*.py` defines `run() -> dict[str, float | int]`. Figures of one run are comparable with
each other; ratios are computed within the run.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results.json")


def main(selected: list[str]) -> int:
    from opml.logs import configure
    from opml.progress import bars

    configure("console", "warning", stream=sys.stderr)  # figures on stdout, not the modules' event logs
    results: dict[str, object] = {}
    if RESULTS.exists():
        results.update(json.loads(RESULTS.read_text()))
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    if selected:
        names = [n for n in names if any(s in n for s in selected)]
    failed = []
    with bars():
        _run_all(names, results, failed)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS}")
    return 1 if failed else 0


def _run_all(names: list[str], results: dict[str, object], failed: list[str]) -> None:
    """Each bench module in turn (a bar counts them on a terminal); a failing one is reported, the others run."""
    from opml.progress import track

    for name in track(names, "benchmarks"):
        started = time.perf_counter()
        print(f"== {name}", flush=True)
        try:
            figures = importlib.import_module(f"bench.{name}").run()
        except Exception as exc:  # a failing bench is reported, the others still run
            print(f"   FAILED: {exc!r}", flush=True)
            failed.append(name)
            continue
        for key, value in figures.items():
            print(f"   {key} = {value}", flush=True)
        results.update(figures)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
