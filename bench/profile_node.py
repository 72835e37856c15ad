"""CPU per request of one daemon, by phase: the daemon runs in this process under cProfile (CPU-time clock, every
thread it uses), on the `bench_node_load` devnet (MNIST CNN, real digits), while requests arrive at `--rate`.
`challenger` runs a submitter process beside it, whose results it checks.

    python -m bench.profile_node submitter --requests 200 --rate 10
    python -m bench.profile_node submitter --cpu     # the daemon as its own process, no profiler

Prints CPU ms per request for each phase (cumulative: a phase includes what it calls) and the top functions;
with `--cpu`, the CPU time (user + system) the daemon process used per request from its start-up's end to the
last request's finalization. Not a figure of `make bench`: a tool for finding where the daemons' time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.bench_node_load import LoadBench, Watch
from opml.chain.anvil import DEV_PRIVATE_KEYS, Anvil
from opml.chain.build import ensure_built
from opml.logs import configure
from opml.node.challenger import Challenger
from opml.node.config import load_config
from opml.node.process import write_config
from opml.node.submitter import Submitter
from opml.paths import REPO_ROOT

PHASES = {  # phase → (file suffix, function name) whose cumulative CPU time it is
    "inference + commitment (claim)": ("ml_backend.py", "claim"),
    "VM budget check": ("ml_backend.py", "budget_refusal"),
    "claim cache writes": ("cache.py", "put"),
    "transactions (build, sign, send, receipt)": ("responder.py", "_send"),
    "head following (poll, log decoding)": ("monitor.py", "poll"),
    "serve_request (submitter task, all of it)": ("submitter.py", "serve_request"),
    "check_submission (challenger task, all of it)": ("challenger.py", "check_submission"),
}


class ThreadProfiles:
    """One cProfile per thread (CPU-time clock), for every function `asyncio.to_thread` runs and the loop."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._local = threading.local()
        self._to_thread = asyncio.to_thread

    def _profile(self) -> cProfile.Profile:
        if getattr(self._local, "profile", None) is None:
            self._local.profile = cProfile.Profile(time.thread_time)
            self.profiles.append(self._local.profile)
        return self._local.profile

    def wrap(self, func: Any) -> Any:
        def profiled(*args: Any, **kwargs: Any) -> Any:
            profile = self._profile()
            profile.enable()
            try:
                return func(*args, **kwargs)
            finally:
                profile.disable()
        return profiled

    def install(self) -> None:
        async def to_thread(func: Any, /, *args: Any, **kwargs: Any) -> Any:
            return await self._to_thread(self.wrap(func), *args, **kwargs)
        asyncio.to_thread = to_thread  # type: ignore[assignment]

    def stats(self) -> pstats.Stats:
        return pstats.Stats(*self.profiles)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["submitter", "challenger"])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--cpu", action="store_true", help="the daemon's process CPU only (no profiler)")
    args = parser.parse_args()
    ensure_built()
    with Anvil(extra_args=("--gas-limit", "100000000")) as anvil, \
            tempfile.TemporaryDirectory(prefix="opml-profile-") as tmp:
        bench = LoadBench(anvil, Path(tmp))
        try:
            if args.cpu:
                cpu, done = process_cpu(bench, args.role, args.requests, args.rate)
                print(f"{done} requests finalized; {args.role} process CPU {1000 * cpu / max(done, 1):.1f} ms per "
                      f"request (loadavg {os.getloadavg()[0]:.2f})")
                return
            stats, done = profile(bench, Path(tmp), args.role, args.requests, args.rate)
        finally:
            bench.close()
    report(stats, done, args.top)


def process_cpu(bench: LoadBench, role: str, count: int, rate: float) -> tuple[float, int]:
    """(CPU seconds the `role` daemon process used while `count` requests were answered, requests finalized)."""
    ids = bench.next_ids(count)
    daemons = {"submitter": bench.daemon("submitter", "cpu-submitter", DEV_PRIVATE_KEYS[2], requests=ids)}
    if role == "challenger":
        daemons["challenger"] = bench.daemon("challenger", "cpu-challenger", DEV_PRIVATE_KEYS[3])
    pid = daemons[role].process.pid  # type: ignore[union-attr]
    time.sleep(2)  # the start-up's last reads
    before = _cpu_seconds(pid)
    watch = Watch(bench.w3, bench.deployment)
    bench.send_at(rate, count / rate, watch)
    watch.until(lambda: all(r in watch.finalized for r in ids), count / rate + 300)
    used = _cpu_seconds(pid) - before
    watch.close()
    bench.stop_daemons()
    return used, len([r for r in ids if r in watch.finalized])


def _cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def profile(bench: LoadBench, tmp: Path, role: str, count: int, rate: float) -> tuple[pstats.Stats, int]:
    ids = bench.next_ids(count)
    if role == "challenger":
        bench.daemon("submitter", "peer", DEV_PRIVATE_KEYS[2], requests=ids)
    key = DEV_PRIVATE_KEYS[2] if role == "submitter" else DEV_PRIVATE_KEYS[3]
    path = write_config(tmp / f"{role}.toml", node_name=f"profiled-{role}", rpc_url=bench.anvil.url,
                        private_key=key, deployment=str(bench.addresses), poll_interval_s=0.2, log_format="json",
                        log_level="warning", model_dir=str(REPO_ROOT), cache_dir=str(tmp / f"cache-{role}"),
                        embedded_broker=False, **({"requests": ids} if role == "submitter" else {}))
    config = load_config(path)
    configure(config.log_format, config.log_level)
    profiles = ThreadProfiles()
    profiles.install()
    daemon = (Submitter if role == "submitter" else Challenger)(config)
    watch = Watch(bench.w3, bench.deployment)
    sender = threading.Thread(target=bench.send_at, args=(rate, count / rate, watch), daemon=True)

    async def until_done() -> None:
        loop_profile = profiles._profile()
        loop_profile.enable()
        task = asyncio.create_task(daemon.run())
        sender.start()
        deadline = time.monotonic() + count / rate + 300
        while len([r for r in ids if r in watch.finalized]) < count and time.monotonic() < deadline:
            loop_profile.disable()
            await asyncio.sleep(0.5)
            loop_profile.enable()
        loop_profile.disable()
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass

    asyncio.run(until_done())
    watch.close()
    return profiles.stats(), len([r for r in ids if r in watch.finalized])


def report(stats: pstats.Stats, done: int, top: int) -> None:
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values())
    print(f"{done} requests finalized; profiled CPU {1000 * total / max(done, 1):.1f} ms per request")
    for phase, (suffix, name) in PHASES.items():
        cumulative = sum(entry[3] for (file, _, func), entry in table.items() if file.endswith(suffix) and func == name)
        if cumulative:
            print(f"  {phase:48s} {1000 * cumulative / max(done, 1):7.1f} ms")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(r"opml|web3|eth_|requests|urllib", top * 2)


if __name__ == "__main__":
    main()
