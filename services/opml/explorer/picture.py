"""A game's bisection as an SVG picture. Pure: the game's levels (JSON, as `views.game_json` gives them) in, SVG text
out.

One band per opened level, top to bottom (graph node → tile → VM step for the ML levels; a token level above the
graph level is one more entry in `LevelNames`, nothing else changes). In a band, row 0 is the whole level; row r
draws the interval of round r − 1 as the axis, the checkpoints the submitter posted in it as ticks, and the
interval still disputed after the challenger's pick as a coloured bar. Every disputed bar is a
`<rect class="disputed" data-level data-round data-lo data-hi>`, so a test (or a script) reads the narrowing off
the document. The decided step closes the picture.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

WIDTH = 1040
LEFT = 92  # room for the row labels
AXIS = 760  # width of one row's axis
ROW = 24
BAND_TITLE = 26
GAP = 14
COLOURS = ("#2563eb", "#7c3aed", "#ea580c", "#0d9488")  # per level, cycling


@dataclass(frozen=True)
class LevelNames:
    """How one model kind names its levels: `title` of each level and `unit` of one transition."""

    titles: tuple[str, ...]
    units: tuple[str, ...]

    def title(self, level: int) -> str:
        return self.titles[level] if level < len(self.titles) else f"level {level + 1}"

    def unit(self, level: int) -> str:
        return self.units[level] if level < len(self.units) else "transition"


ML_LEVELS = LevelNames(("graph level", "tile level", "VM level"), ("graph node", "tile", "VM step"))
GENERIC_LEVELS = LevelNames((), ())


def level_names(kind: str | None) -> LevelNames:
    return ML_LEVELS if kind == "ml" else GENERIC_LEVELS


def bisection_svg(levels: list[dict], names: LevelNames, step: dict | None = None,
                  verdict: str | None = None) -> str:
    """The picture of `levels` (each {"level", "parent", "length", "caption", "rounds": [{"lo", "hi",
    "checkpoints", "segment"}]}); `step` (the decided step: "lo", "hi", "instruction") and `verdict` close it."""
    parts: list[str] = []
    y = 8
    for band in levels:
        y = _band(parts, band, names, y) + GAP
    if not levels:
        parts.append(_text(LEFT, y + 16, "no level opened yet: the submitter moves first", "note"))
        y += 28
    if step is not None:
        y = _step(parts, step, verdict, y)
    height = y + 8
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="bisection" viewBox="0 0 {WIDTH} {height}" '
            f'width="100%" style="max-width:{WIDTH}px" role="img" aria-label="bisection of the disputed computation">'
            + "".join(parts) + "</svg>")


def _band(parts: list[str], band: dict, names: LevelNames, y: int) -> int:
    level, rounds = band["level"], band["rounds"]
    colour = COLOURS[level % len(COLOURS)]
    title = f"{names.title(level)} · {band['length']} {names.unit(level)}s"
    if band.get("caption"):
        title += f" · {band['caption']}"
    parts.append(f'<g class="level" data-level="{level}">')
    parts.append(f'<rect class="band" x="2" y="{y}" width="{WIDTH - 4}" height="{BAND_TITLE + ROW * len(rounds) + 6}" '
                 f'rx="6" fill="{colour}" fill-opacity="0.05" stroke="{colour}" stroke-opacity="0.35"/>')
    parts.append(_text(10, y + 18, title, "band-title", colour))
    y += BAND_TITLE
    previous = None
    for r, interval in enumerate(rounds):
        axis_lo, axis_hi = (0, band["length"]) if previous is None else (previous["lo"], previous["hi"])
        _row(parts, level, r, interval, previous, axis_lo, axis_hi, colour, names.unit(level), y)
        previous = interval
        y += ROW
    parts.append("</g>")
    return y + 6


def _row(parts: list[str], level: int, r: int, interval: dict, previous: dict | None, axis_lo: int, axis_hi: int,
         colour: str, unit: str, y: int) -> None:
    span = max(1, axis_hi - axis_lo)

    def x(v: int) -> float:
        return LEFT + (v - axis_lo) * AXIS / span

    lo, hi = interval["lo"], interval["hi"]
    parts.append(_text(10, y + 15, "start" if r == 0 else f"round {r}", "row-label"))
    parts.append(f'<rect class="axis" x="{LEFT}" y="{y + 5}" width="{AXIS}" height="12" rx="2" fill="#e5e7eb"/>')
    if previous is not None:
        for tick in _boundaries(axis_lo, axis_hi, previous["checkpoints"])[1:-1]:
            parts.append(f'<line class="checkpoint" x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{y + 3}" '
                         f'y2="{y + 19}" stroke="#6b7280" stroke-width="1"/>')
    left, width = x(lo), max(3.0, x(hi) - x(lo))
    parts.append(f'<rect class="disputed" data-level="{level}" data-round="{r}" data-lo="{lo}" data-hi="{hi}" '
                 f'x="{left:.1f}" y="{y + 5}" width="{width:.1f}" height="12" rx="2" fill="{colour}"/>')
    count = hi - lo
    label = f"[{lo}, {hi}]  {count} {unit}{'' if count == 1 else 's'}"
    parts.append(_text(LEFT + AXIS + 10, y + 15, label, "row-value"))


def _boundaries(lo: int, hi: int, checkpoints: int) -> list[int]:
    """p_0 = lo, …, p_{c+1} = hi: where c checkpoints split [lo, hi] (the contract's `positions`)."""
    length = hi - lo
    return [lo + (j * length) // (checkpoints + 1) for j in range(checkpoints + 2)]


def _step(parts: list[str], step: dict, verdict: str | None, y: int) -> int:
    instruction = step.get("instruction") or "(instruction not read yet)"
    right = step.get("claim_right")
    colour = "#15803d" if right else "#b91c1c"
    parts.append(f'<g class="step" data-lo="{step["lo"]}" data-hi="{step["hi"]}">')
    parts.append(f'<rect x="2" y="{y}" width="{WIDTH - 4}" height="54" rx="6" fill="{colour}" fill-opacity="0.07" '
                 f'stroke="{colour}" stroke-opacity="0.5"/>')
    parts.append(_text(10, y + 20, f"one MIPS step on chain, {step['lo']} → {step['hi']}: {instruction}",
                       "step-title", colour))
    claim = "right" if right else "wrong"
    line = f"the submitter's claimed post-state is {claim}" + (f" · {verdict}" if verdict else "")
    parts.append(_text(10, y + 42, line, "step-verdict"))
    parts.append("</g>")
    return y + 60


def _text(x: float, y: float, text: str, cls: str, fill: str = "#111827") -> str:
    return f'<text class="{cls}" x="{x}" y="{y}" fill="{fill}">{escape(text)}</text>'
