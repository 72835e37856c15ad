"""Prometheus metrics of one daemon, in a registry of its own (several daemons can live in one test process).

    metrics = Metrics(role="challenger"); metrics.serve(9101)     # http://host:9101/metrics
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server


class Metrics:
    """Moves, steps, games in flight, inference time, VM time, bonds, failures, chain head and lag, backlog,
    transactions in flight, balance, RPC errors, reorganizations and chain replacements."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.registry = CollectorRegistry()
        r = self.registry
        self.moves = Counter("opml_moves_total", "game moves mined, by action", ["action"], registry=r)
        self.rejected = Counter("opml_moves_rejected_total", "moves the contracts refused", ["action"], registry=r)
        self.steps = Counter("opml_steps_total", "one-step proofs executed on chain", registry=r)
        self.games_in_flight = Gauge("opml_games_in_flight", "games this node is playing", registry=r)
        self.games_won = Counter("opml_games_won_total", "games this node won", registry=r)
        self.games_lost = Counter("opml_games_lost_total", "games this node lost", registry=r)
        self.inference = Histogram("opml_inference_seconds", "native inference + trace setup per request",
                                   registry=r)
        self.vm = Histogram("opml_vm_seconds", "MIPS VM work for disputes, by call: trace (run a tile's kernel), "
                            "state (a VM state root), witness (a one-step witness)", ["call"], registry=r)
        self.bonds_posted = Counter("opml_bonds_posted_wei_total", "bond wei posted", registry=r)
        self.withdrawn = Counter("opml_withdrawn_wei_total", "wei withdrawn from the coordinator", registry=r)
        self.submissions = Counter("opml_submissions_total", "results submitted", registry=r)
        self.challenges = Counter("opml_challenges_total", "challenges opened", registry=r)
        self.failures = Counter("opml_failures_total", "task failures, by kind", ["kind"], registry=r)
        self.head = Gauge("opml_chain_head", "latest block seen", registry=r)
        self.head_lag = Gauge("opml_head_lag_blocks", "blocks between the head and the last block whose events "
                              "were handled", registry=r)
        self.backlog = Gauge("opml_backlog", "tasks (requests, submissions, games) started and not finished",
                             registry=r)
        self.in_flight = Gauge("opml_tx_in_flight", "transactions sent and not yet mined", registry=r)
        self.balance = Gauge("opml_balance_wei", "the node account's balance", registry=r)
        self.rpc_errors = Counter("opml_rpc_errors_total", "failed chain RPC rounds, by where", ["where"],
                                  registry=r)
        self.reorgs = Counter("opml_reorgs_total", "chain reorganizations seen (everything re-derived)", registry=r)
        self.chain_resets = Counter("opml_chain_resets_total", "chain replacements seen (state switched)",
                                    registry=r)

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Expose `/metrics` over HTTP on `port`."""
        start_http_server(port, addr=addr, registry=self.registry)

    def render(self) -> bytes:
        """The text exposition format (what a scrape returns)."""
        return generate_latest(self.registry)
