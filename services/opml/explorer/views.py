"""The JSON the API serves (and the pages render), from the index and what the explorer knows of each model.
Pure. Amounts are wei as decimal strings (JSON numbers lose precision above 2^53); times are chain seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .index import PHASES, Game, Index, Request
from .inputs import describe
from .picture import bisection_svg, level_names


@dataclass(frozen=True)
class ModelInfo:
    """What the deployment file and the model file tell about one model id."""

    kind: str | None = None
    name: str | None = None
    input_shape: tuple[int, ...] | None = None
    node_ops: tuple[str, ...] = field(default_factory=tuple)


def wei(amount: int) -> str:
    return str(int(amount))


def status_json(index: Index, chain: dict[str, Any]) -> dict[str, Any]:
    """The follower's state: connected or not, chain id, head, how often the index was rebuilt."""
    return {**chain, "head": index.head, "head_time": index.head_time, "version": index.version,
            "requests": len(index.requests), "games": len(index.games)}


def request_row(index: Index, request: Request, models: dict[int, ModelInfo]) -> dict[str, Any]:
    model = models.get(request.model, ModelInfo())
    return {
        "id": request.id, "status": index.request_status(request), "model": request.model,
        "model_name": model.name, "requester": request.requester, "fee_wei": wei(request.fee),
        "submitter": index.active_submitter(request), "countdown": index.request_countdown(request),
        "created_at": request.created_at, "block": request.created_block,
        "input": describe(request.input, model.input_shape, model.kind), "games": list(request.games),
    }


def request_json(index: Index, request: Request, models: dict[int, ModelInfo]) -> dict[str, Any]:
    row = request_row(index, request, models)
    row["input_commitment"] = request.input_commitment
    row["callback"] = request.callback
    row["callback_ok"] = request.callback_ok
    row["submissions"] = [
        {"id": s.id, "submitter": s.submitter, "status": s.status, "window_end": s.window_end, "block": s.block,
         "output": describe(s.output, None, "toy"), "output_commitment": s.output_commitment,
         "predicted_class": _predicted_class(s.output, models.get(request.model))}
        for s in (index.submissions[i] for i in request.submissions)]
    return row


def _predicted_class(output: bytes, model: ModelInfo | None) -> int | None:
    """For a classifier's logits (at most 1000 int8 values): the class they name."""
    if model is None or model.kind != "ml" or not 0 < len(output) <= 1000:
        return None
    values = [b - 256 if b > 127 else b for b in output]
    return values.index(max(values))


def game_row(index: Index, game: Game) -> dict[str, Any]:
    state = game.state
    return {
        "id": game.id, "request": game.request, "submitter": game.submitter, "challenger": game.challenger,
        "phase": PHASES[state["phase"]] if "phase" in state else None, "running": index.game_running(game),
        "winner": game.winner, "submitter_won": game.submitter_won, "by_timeout": game.by_timeout,
        "moot": game.moot, "moves": game.moves, "depth": len(game.levels),
    }


def game_json(index: Index, game: Game, models: dict[int, ModelInfo]) -> dict[str, Any]:
    request = index.requests.get(game.request)
    model = models.get(request.model, ModelInfo()) if request else ModelInfo()
    names = level_names(model.kind)
    levels = [_level_json(level, names, model) for level in game.levels]
    p = index.params
    row = game_row(index, game)
    row.update({
        "bonds": {"submitter_wei": wei(p.submitter_bond), "challenger_wei": wei(p.challenger_bond)},
        "clocks": _clocks(game, p.clock_seconds),
        "levels": levels, "step": game.step, "num_levels": p.num_levels, "checkpoint_count": p.checkpoint_count,
        "payouts": _payouts(index, game),
        "verdict": _verdict(game),
        "request_input": describe(request.input, model.input_shape, model.kind) if request else None,
    })
    row["picture"] = bisection_svg(levels, names, game.step, row["verdict"])
    return row


def _level_json(level: Any, names: Any, model: ModelInfo) -> dict[str, Any]:
    caption = None
    if level.level >= 1:
        above = names.unit(level.level - 1)
        caption = f"expands {above} {level.parent}"
        if level.level == 1 and model.kind == "ml" and 0 <= level.parent < len(model.node_ops):
            caption += f" ({model.node_ops[level.parent]})"
    return {"level": level.level, "title": names.title(level.level), "unit": names.unit(level.level),
            "parent": level.parent, "length": level.length, "caption": caption, "rounds": list(level.rounds),
            "op": model.node_ops[level.parent] if level.level == 1 and 0 <= level.parent < len(model.node_ops)
            else None}


def _clocks(game: Game, clock_seconds: int) -> dict[str, Any]:
    """Each party's seconds left as of `last_move_at`, and which one is running (its deadline)."""
    s = game.state
    return {"submitter_left": s.get("submitter_left", clock_seconds),
            "challenger_left": s.get("challenger_left", clock_seconds),
            "last_move_at": s.get("last_move_at", game.created_at), "on_clock": s.get("on_clock"),
            "deadline": s.get("deadline")}


def _payouts(index: Index, game: Game) -> dict[str, Any] | None:
    """Who got what when the game was settled (None before)."""
    if not game.settled:
        return None
    p = index.params
    if game.moot:
        return {"moot": True, "note": "the result was already slashed by another game; the challenger's bond "
                "is returned"}
    if game.submitter_won:
        winner, loser, bond = game.submitter, game.challenger, p.challenger_bond
    else:
        winner, loser, bond = game.challenger, game.submitter, p.submitter_bond
    burned = game.burned
    return {"moot": False, "winner": winner, "loser": loser, "bond_lost_wei": wei(bond),
            "winner_gain_wei": wei(bond - burned), "burned_wei": wei(burned)}


def _verdict(game: Game) -> str | None:
    if game.winner is None:
        return None
    side = "submitter" if game.submitter_won else "challenger"
    how = "on time (the other's clock ran out)" if game.by_timeout else "by the step"
    return f"the {side} wins {how}"


def _money_row(address: str, entries: dict[str, int]) -> dict[str, str]:
    net = entries["earned"] - entries["lost"] - entries["fees_paid"]
    return {"address": address, **{f"{entry}_wei": wei(amount) for entry, amount in entries.items()},
            "net_wei": wei(net)}


def money_json(index: Index) -> dict[str, Any]:
    rows = [_money_row(address, index.account(address)) for address in index.addresses()]
    return {"accounts": rows, "burned_total_wei": wei(index.burned_total)}
