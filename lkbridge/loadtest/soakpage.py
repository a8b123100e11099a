"""soak.html: one self-contained page of a load run over time, the page an SRE opens after a
24 h soak.

Plots (inline SVG, no script, nothing fetched) of the bridge's RSS, tasks, open fds and CPU,
users and sessions, device -> client latency percentiles and chunks/s per interval, holes,
stalls and failures per interval; the fitted growth slopes over the plateau drawn on their
plots; the gates' verdicts and the run's summary. Every line carries its values in `data-t`
and `data-v` (seconds, value), so a script (or a test) reads the figures a line was drawn
from. Runs longer than MAX_POINTS samples keep each bucket's extreme (the worst latency, the
highest RSS), so a spike never averages away.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lkbridge.loadtest.gates import fit_per_hour, plateau
from lkbridge.loadtest.timeline import Row
from lkbridge.loadtest.windows import HEADER, cells, windows

SOAK_HTML = "soak.html"
MAX_POINTS = 1500
WIDTH, HEIGHT = 900, 220
PAD_L, PAD_R, PAD_T, PAD_B = 64, 16, 12, 28
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e")


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float]]
    colour: str
    dashed: bool = False


@dataclass(frozen=True)
class Slope:
    name: str
    per_hour: float
    unit: str
    ci95_per_hour: float  # the 95 % half-width (gates.Fit)
    start: tuple[float, float]  # the fitted line's ends over the plateau, for its plot
    end: tuple[float, float]


def downsample(points: list[tuple[float, float]], limit: int = MAX_POINTS
               ) -> list[tuple[float, float]]:  # fmt: skip
    """At most `limit` points: each bucket's last time and its highest value."""
    if len(points) <= limit:
        return points
    size = -(-len(points) // limit)
    return [(chunk[-1][0], max(v for _, v in chunk))
            for chunk in (points[i : i + size] for i in range(0, len(points), size))]  # fmt: skip


def column(rows: Sequence[Row], value: Callable[[Row], float], bridge: bool = False
           ) -> list[tuple[float, float]]:  # fmt: skip
    """(t, value) of the rows; `bridge`: only rows where the bridge answered."""
    return [(r.t_s, float(value(r))) for r in rows if not bridge or r.rss_mb >= 0]


def fit(rows: Sequence[Row], name: str, value: Callable[[Row], float], unit: str) -> Slope | None:
    """Least-squares slope over the plateau (after its 25 % warm-up, as the gates judge it)."""
    samples = [s for s in (r.sample() for r in rows) if s is not None]
    flat = plateau(samples, warmup_fraction=0.25)
    if len(flat) < 3:
        return None
    by_t = {r.t_s: r for r in rows}
    points = [(s.t_s, float(value(by_t[s.t_s]))) for s in flat if s.t_s in by_t]
    points = [(t, v) for t, v in points if v >= 0]  # -1: a figure this run did not record
    if len(points) < 3:
        return None
    growth = fit_per_hour(points)
    per_hour = growth.per_hour
    mean_t = sum(t for t, _ in points) / len(points)
    mean_v = sum(v for _, v in points) / len(points)

    def at(t: float) -> float:
        return mean_v + per_hour / 3600.0 * (t - mean_t)

    first, last = points[0][0], points[-1][0]
    return Slope(name, per_hour, unit, growth.ci95_per_hour, (first, at(first)), (last, at(last)))


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def plot(title: str, unit: str, series: list[Series]) -> str:
    """One SVG chart: axes with min/max labels, a polyline per series, a legend."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return f'<section><h3>{html.escape(title)}</h3><p class="none">no samples</p></section>'
    ts = [t for s in drawn for t, _ in s.points]
    vs = [v for s in drawn for _, v in s.points]
    t0, t1 = min(ts), max(ts)
    v0, v1 = min(0.0, min(vs)), max(vs)
    t1 = t1 if t1 > t0 else t0 + 1.0
    v1 = v1 if v1 > v0 else v0 + 1.0
    inner_w, inner_h = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(t: float) -> float:
        return PAD_L + (t - t0) / (t1 - t0) * inner_w

    def y(v: float) -> float:
        return PAD_T + (1 - (v - v0) / (v1 - v0)) * inner_h

    parts = [
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{html.escape(title)}">',
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{inner_w}" height="{inner_h}" class="frame"/>',
        f'<text x="{PAD_L - 6}" y="{PAD_T + 10}" class="yl">{_fmt(v1)}</text>',
        f'<text x="{PAD_L - 6}" y="{PAD_T + inner_h}" class="yl">{_fmt(v0)}</text>',
        f'<text x="{PAD_L}" y="{HEIGHT - 8}" class="xl">{_clock(t0)}</text>',
        f'<text x="{WIDTH - PAD_R}" y="{HEIGHT - 8}" class="xl end">{_clock(t1)}</text>',
    ]
    for s in drawn:
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in s.points)
        data_t = " ".join(_fmt(t) for t, _ in s.points)
        data_v = " ".join(_fmt(v) for _, v in s.points)
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        parts.append(
            f'<polyline data-series="{html.escape(s.name)}" data-t="{data_t}" '
            f'data-v="{data_v}" points="{coords}" stroke="{s.colour}"{dash}/>'
        )
    parts.append("</svg>")
    legend = " ".join(
        f'<span style="color:{s.colour}">&#9632; {html.escape(s.name)}</span>' for s in drawn
    )
    head = f"<h3>{html.escape(title)} <small>({html.escape(unit)})</small></h3>"
    return f'<section>{head}{"".join(parts)}<div class="legend">{legend}</div></section>'


def _clock(t_s: float) -> str:
    t = int(t_s)
    return f"{t // 3600}:{t // 60 % 60:02d}:{t % 60:02d}"


@dataclass(frozen=True)
class Figure:
    """A bridge figure drawn with its growth fit: key, name, chart title, unit, fit unit."""

    key: str
    name: str
    title: str
    unit: str
    per_hour: str
    value: Callable[[Row], float]


GROWTH = (
    Figure("rss", "RSS", "Bridge resident memory", "MB", "MB/h", lambda r: r.rss_mb),
    Figure("tasks", "tasks", "Bridge asyncio tasks", "count", "/h", lambda r: float(r.tasks)),
    Figure("fds", "open fds", "Bridge open file descriptors", "count", "/h",
           lambda r: float(r.open_fds)),
    Figure("threads", "threads", "Bridge OS threads", "count", "/h", lambda r: float(r.threads)),
)  # fmt: skip

# the other charts: title, unit, and per line its name, value and whether only rows the
# bridge answered count
PLAIN: tuple[tuple[str, str, tuple[tuple[str, Callable[[Row], float], bool], ...]], ...] = (
    ("Bridge CPU", "% of one core", (("CPU", lambda r: r.cpu_pct, True),)),
    ("Users and bridge sessions", "count",
     (("users", lambda r: r.users, False), ("sessions", lambda r: r.sessions, True))),
    ("Device -> client latency per interval", "ms",
     (("p50", lambda r: r.p50_ms, False), ("p95", lambda r: r.p95_ms, False),
      ("p99", lambda r: r.p99_ms, False))),
    ("Audio chunks received", "chunks/s", (("chunks/s", lambda r: r.chunks_per_s, False),)),
    ("Holes, stalls and failures per interval", "count",
     (("holes", lambda r: r.holes, False), ("stalls", lambda r: r.stalls, False),
      ("failures", lambda r: r.failures, False))),
)  # fmt: skip


def fits(rows: Sequence[Row]) -> dict[str, Slope]:
    """The growth fits of the figures the run recorded (an older run has no threads)."""
    found = {g.key: fit(rows, g.name, g.value, g.per_hour) for g in GROWTH}
    return {key: slope for key, slope in found.items() if slope is not None}


def render(rows: Sequence[Row], summary: dict[str, Any], title: str = "lkbridge load run"
           ) -> str:  # fmt: skip
    """The page for the rows of timeline.csv and the run's summary (summary.json)."""
    slopes = fits(rows)
    charts = []
    for figure, colour in zip(GROWTH, COLOURS, strict=False):
        known = [(t, v) for t, v in column(rows, figure.value, bridge=True) if v >= 0]
        series = [Series(figure.name, downsample(known), colour)]
        slope = slopes.get(figure.key)
        if slope is not None:
            series.append(Series(f"{figure.name} fit {slope.per_hour:+.3g} {slope.unit}",
                                 [slope.start, slope.end], "#555555", dashed=True))  # fmt: skip
        charts.append(plot(figure.title, figure.unit, series))
    for chart_title, unit, lines in PLAIN:
        series = []
        for (name, value, bridge), colour in zip(lines, COLOURS, strict=False):
            points = [(t, v) for t, v in column(rows, value, bridge=bridge) if v >= 0 or not bridge]
            series.append(Series(name, downsample(points), colour))
        charts.append(plot(chart_title, unit, series))
    return _page(title, rows, summary, list(slopes.values()), charts)


def _page(title: str, rows: Sequence[Row], summary: dict[str, Any], slopes: list[Slope],
          charts: list[str]) -> str:  # fmt: skip
    gates = summary.get("gates", {})
    passed = bool(gates.get("passed"))
    verdicts = "".join(
        f'<li class="{line.split()[0].lower()}">{html.escape(line)}</li>'
        for line in gates.get("lines", [])
    )
    fitted = (
        "".join(
            f"<tr><td>{html.escape(s.name)}</td><td>{s.per_hour:+.4g} {html.escape(s.unit)}</td>"
            f"<td>± {s.ci95_per_hour:.3g}</td>"
            f"<td>{_clock(s.start[0])} - {_clock(s.end[0])}</td></tr>"
            for s in slopes
        )
        or '<tr><td colspan="4">no plateau of 3 samples to fit</td></tr>'
    )
    periods = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells(w)) + "</tr>"
        for w in windows(rows)
    )
    period_head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    audio = summary.get("audio", {})
    lat = audio.get("latency_ms", {})
    facts = [
        ("users", summary.get("users")), ("duration", f"{summary.get('duration_s', 0)} s"),
        ("samples", len(rows)), ("chunks", audio.get("frames")),
        ("latency p50 / p95 / p99 / max",
         " / ".join(f"{lat.get(k, 0):.0f}" for k in ("p50", "p95", "p99", "max")) + " ms"),
        ("holes", f"{audio.get('holes', 0)} ({audio.get('missing_ms', 0)} ms lost)"),
        ("stalls", f"{audio.get('stalls', 0)} (longest {audio.get('longest_stall_ms', 0)} ms)"),
        ("failure ratio", f"{summary.get('fail_ratio', 0):.4f}"),
    ]  # fmt: skip
    table = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                    for k, v in facts)  # fmt: skip
    written = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    verdict = "PASS" if passed else "FAIL"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:940px}}
h1 .pass{{color:#2a7d2a}} h1 .fail{{color:#b22}} h3{{margin:18px 0 4px}}
table{{border-collapse:collapse}}
td,th{{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}}
li.pass{{color:#2a7d2a}} li.fail{{color:#b22}} li.skip,li.info{{color:#666}}
svg .frame{{fill:#fafafa;stroke:#bbb}} svg polyline{{fill:none;stroke-width:1.5}}
svg text{{font-size:11px;fill:#555}} svg .yl{{text-anchor:end}} svg .end{{text-anchor:end}}
.legend span{{margin-right:14px}} .none{{color:#888}}
</style></head><body>
<h1>{html.escape(title)}: gates <span class="{verdict.lower()}">{verdict}</span></h1>
<p>Written {html.escape(written)}; times are since the run's start (h:mm:ss).</p>
<h2>Gates</h2><ul id="gates">{verdicts}</ul>
<h2>Growth over the plateau (least-squares fit)</h2>
<table id="slopes"><tr><th>figure</th><th>slope</th><th>95 % interval</th><th>fitted over</th>
</tr>{fitted}</table>
<p>The interval is widened for samples that follow each other (lag-1 autocorrelation): a slope
whose interval holds 0 is growth the run cannot tell from noise.</p>
<h2>Per ten minutes</h2>
<p>p50 and p99: the chunk-weighted median of the intervals' figures; worst p99: the worst
interval's, an upper bound of the window's p99.</p>
<table id="windows"><tr>{period_head}</tr>{periods}</table>
<h2>Run</h2><table id="facts">{table}</table>
<h2>Over time</h2>
{"".join(charts)}
</body></html>
"""


def write_page(path: Path, rows: Sequence[Row], summary: dict[str, Any]) -> Path:
    path.write_text(render(rows, summary))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m lkbridge.loadtest.soakpage RUN_DIR`: write the run's soak.html again with
    this version's page (a run's own page is its version's) and print its growth fits and its
    ten-minute windows as Markdown."""
    import argparse
    import json

    from lkbridge.loadtest.timeline import TIMELINE_CSV, read_rows
    from lkbridge.loadtest.windows import markdown

    parser = argparse.ArgumentParser(prog="python -m lkbridge.loadtest.soakpage")
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    timeline = args.run_dir / TIMELINE_CSV
    if not timeline.is_file():
        parser.error(f"no {TIMELINE_CSV} in {args.run_dir}")
    rows = read_rows(timeline)
    summary_file = args.run_dir / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    page = write_page(args.run_dir / SOAK_HTML, rows, summary)
    for slope in fits(rows).values():
        print(f"{slope.name}: {slope.per_hour:+.3g} ± {slope.ci95_per_hour:.3g} {slope.unit} "
              f"over {_clock(slope.start[0])}-{_clock(slope.end[0])}")  # fmt: skip
    print(markdown(windows(rows)))
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
