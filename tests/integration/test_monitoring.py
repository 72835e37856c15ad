"""The operators' monitoring, for real: Debian's Prometheus runs with the repository's scrape config (its targets
pointed at two daemons on free ports) while a lying ML submitter daemon is slashed by the challenger daemon; then
every PromQL expression of the Grafana dashboard (deploy/grafana/dashboards/opml.json) is asked through
Prometheus's HTTP API and must return data, grouped by the `role` label the scrape config sets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fixtures_node import MlNet

from opml.chain.anvil import free_port
from opml.ml.accuracy import as_float_input
from opml.paths import REPO_ROOT
from opml.processes import stop_process

SCRAPE_CONFIG = REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "dashboards" / "opml.json"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def dashboard_expressions() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_the_dashboard_has_the_panels_operators_need() -> None:
    titles = " / ".join(p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]).lower()
    for topic in ("games in flight", "moves", "steps", "bonds", "inference", "vm time", "failures", "last block"):
        assert topic in titles.replace("one-step proofs", "steps"), f"no panel about {topic}: {titles}"
    used = " ".join(dashboard_expressions())
    for metric in ("opml_games_in_flight", "opml_moves_total", "opml_steps_total", "opml_bonds_posted_wei_total",
                   "opml_inference_seconds", "opml_vm_seconds", "opml_moves_rejected_total", "opml_failures_total",
                   "opml_chain_head"):
        assert metric in used, f"the dashboard never queries {metric}"


class PrometheusProcess:
    """The real Prometheus binary on a free port with a config written for this test, its data in `workdir`."""

    def __init__(self, config: str, workdir: Path) -> None:
        self.port = free_port()
        (workdir / "prometheus.yml").write_text(config)
        self.log = open(workdir / "prometheus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={workdir / 'prometheus.yml'}", f"--web.listen-address=127.0.0.1:{self.port}",
             f"--storage.tsdb.path={workdir / 'tsdb'}"], stdin=subprocess.DEVNULL, stdout=self.log,
            stderr=subprocess.STDOUT)

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as reply:
            body = json.loads(reply.read())
        assert body["status"] == "success", f"{expr}: {body}"
        return body["data"]["result"]

    def ready(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2)
            return True
        except OSError:
            return False

    def stop(self) -> None:
        stop_process(self.process, grace=10)
        self.log.close()


def _scrape_config(ports: dict[str, int]) -> str:
    """The repository's config, its targets moved to this test's daemons and scraped every second."""
    text = SCRAPE_CONFIG.read_text()
    for role, target in (("submitter", "submitter:9101"), ("challenger", "challenger:9102")):
        assert target in text, f"{SCRAPE_CONFIG} no longer scrapes {target}"
        text = text.replace(target, f"127.0.0.1:{ports[role]}")
    return text.replace("scrape_interval: 5s", "scrape_interval: 1s\n  scrape_timeout: 1s")


@pytest.mark.net(kind=MlNet)
def test_every_dashboard_query_returns_data_from_two_running_daemons(net: MlNet, tmp_path: Path) -> None:
    assert Path(PROMETHEUS).is_file(), "prometheus is not installed: run `make sysdeps` (Debian package)"
    ports = {"submitter": free_port(), "challenger": free_port()}
    prometheus = PrometheusProcess(_scrape_config(ports), tmp_path)
    try:
        submitter = net.daemon("submitter", faults=["wrong-output:2:3"], model_dir=str(REPO_ROOT),
                               metrics_port=ports["submitter"])
        challenger = net.daemon("challenger", model_dir=str(REPO_ROOT), metrics_port=ports["challenger"])
        with np.load(REPO_ROOT / "models" / "mnist_data.npz") as data:
            net.request(net.quantized.quantize_input(as_float_input(data["test_x"][11])).tobytes())
        (game,) = challenger.wait_for("challenged", timeout=60)
        for daemon in (challenger, submitter):
            daemon.wait_for("game_over", lambda e: e["game"] == game["game"], timeout=120)
        assert prometheus.ready(), "prometheus did not start"
        def by_role(expr: str) -> dict[str, float]:
            return {r["metric"]["role"]: float(r["value"][1]) for r in prometheus.query(expr)}

        deadline = time.monotonic() + 60  # generous: on a loaded machine a scrape can miss its one-second slot
        while True:  # a few scrapes after the game: every series the dashboard reads exists, the step is counted
            empty = [expr for expr in dashboard_expressions() if not prometheus.query(expr)]
            steps = by_role("sum by (role) (opml_steps_total)")
            lost = by_role("sum by (role) (opml_games_lost_total)")
            if (not empty and sum(steps.values()) == 1 and lost.get("submitter") == 1) or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not empty, f"dashboard queries without data: {empty}"
        assert sum(steps.values()) == 1, steps  # one MIPS step decided the game
        heads = by_role("max by (role) (opml_chain_head)")
        assert set(heads) == {"submitter", "challenger"} and min(heads.values()) > 0, heads
        assert lost == {"submitter": 1.0, "challenger": 0.0}, lost  # the liar lost the one game, the challenger none
        assert submitter.alive and challenger.alive
    finally:
        prometheus.stop()
