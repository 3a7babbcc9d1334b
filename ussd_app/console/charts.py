"""Charts as inline SVG, drawn on the server (no JavaScript, no network fetch): a line chart for series over
days and a bar chart for a few categories. Values are plain numbers; labels are escaped."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 640, 200, 36
MAX_X_LABELS = 12            # x labels a bar chart writes at most
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]           # None: no value that day (the line breaks there)


def _scale(top: float) -> float:
    return top if top > 0 else 1.0


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """One line per series over the same x labels (days); the y axis starts at 0. A run of values between
    gaps (None) is one polyline; a lone value is a dot."""
    top = _scale(max((v for s in series for v in s.values if v is not None), default=0))
    n = max(len(labels), 1)
    step = (WIDTH - 2 * PAD) / max(n - 1, 1)

    def point(i: int, v: float) -> str:
        return f"{PAD + i * step:.1f},{HEIGHT - PAD - (v / top) * (HEIGHT - 2 * PAD):.1f}"

    parts = [_frame(title, top)]
    for k, s in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        for run in _runs(s.values):
            if len(run) == 1:
                x, y = point(*run[0]).split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            else:
                points = " ".join(point(i, v) for i, v in run)
                parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{PAD + 120 * k}" y="14" fill="{colour}" font-size="12">{escape(s.name)}</text>')
    if labels:
        parts.append(_x_label(PAD, labels[0], "start"))
        parts.append(_x_label(WIDTH - PAD, labels[-1], "end"))
    return _svg(title, parts)


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """(index, value) runs without a gap: [1, 2, None, 3] -> [[(0, 1), (1, 2)], [(3, 3)]]."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((i, v))
    return [run for run in runs if run]


def bar_chart(title: str, bars: Sequence[tuple[str, float]]) -> Markup:
    """One bar per (label, value); with many bars only every few labels is written (each bar's tooltip
    still names it), so a month of days stays readable."""
    top = _scale(max((v for _label, v in bars), default=0))
    width = (WIDTH - 2 * PAD) / max(len(bars), 1)
    every = -(-len(bars) // MAX_X_LABELS)
    parts = [_frame(title, top)]
    for i, (label, value) in enumerate(bars):
        h = (value / top) * (HEIGHT - 2 * PAD)
        x = PAD + i * width
        parts.append(f'<rect x="{x + 2:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{max(width - 4, 1):.1f}" '
                     f'height="{h:.1f}" fill="{COLOURS[0]}"><title>{escape(label)}: {value:g}</title></rect>')
        if i % max(every, 1) == 0:
            parts.append(_x_label(x + width / 2, label, "middle"))
    return _svg(title, parts)


def _frame(title: str, top: float) -> str:
    base = HEIGHT - PAD
    return (f'<line x1="{PAD}" y1="{base}" x2="{WIDTH - PAD}" y2="{base}" stroke="#888"/>'
            f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{base}" stroke="#888"/>'
            f'<text x="{PAD - 4}" y="{PAD + 4}" text-anchor="end" font-size="11">{top:g}</text>'
            f'<text x="{PAD - 4}" y="{base}" text-anchor="end" font-size="11">0</text>')


def _x_label(x: float, label: str, anchor: str) -> str:
    return (f'<text x="{x:.1f}" y="{HEIGHT - PAD + 16}" text-anchor="{anchor}" font-size="11">'
            f'{escape(label)}</text>')


def _svg(title: str, parts: list[str]) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}"'
                  f' width="{WIDTH}" height="{HEIGHT}" aria-label="{escape(title)}"><title>{escape(title)}</title>'
                  + "".join(parts) + "</svg>")
