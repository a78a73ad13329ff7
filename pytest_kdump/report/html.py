"""The nightly report as one self-contained HTML page: inline CSS, inline SVG bars and plots,
no JavaScript, nothing fetched (a Content-Security-Policy forbids it); links to the tests'
files are relative to the page's folder, so the page works offline next to the artifacts."""

from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path
from urllib.parse import quote

from pytest_kdump import __version__
from pytest_kdump.report.nights import UNEXPECTED, Night, TestRun
from pytest_kdump.report.summary import BoardTrend, Summary

PAGE = "index.html"
PHASE_COLORS = {"boot": "#4e79a7", "shell": "#a0cbe8", "recover": "#59a14f",
                "armed": "#8cd17d", "trigger": "#f28e2b", "crash_kernel": "#e15759",
                "dump_saved": "#b07aa1", "fetch": "#9c755f", "analysis": "#76b7b2"}
OTHER_COLORS = ("#edc948", "#ff9da7", "#bab0ac", "#d37295")
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1{font-size:1.5em;margin:0 0 .2em}h2{font-size:1.2em;margin:1.4em 0 .4em}
table{border-collapse:collapse;margin:.4em 0}th,td{border:1px solid #ccc;padding:3px 6px;
vertical-align:top;text-align:left}th{background:#f2f2f2}
td.num{text-align:right;white-space:nowrap}
code{font-size:12px;overflow-wrap:anywhere}.muted{color:#666}.small{font-size:12px}
.badge{display:inline-block;padding:0 6px;border-radius:3px;font-size:12px;color:#fff;
white-space:nowrap}
.c-new,.o-failed,.o-interrupted{background:#c62828}.c-known,.o-xfailed{background:#ef6c00}
.c-expected,.o-passed{background:#2e7d32}.o-skipped{background:#757575}
tr.sig-new td,tr.outcome-failed td,tr.outcome-interrupted td{background:#fdecea}
tr.sig-known td,tr.outcome-xfailed td{background:#fff3e0}
.legend span{display:inline-block;margin-right:10px}.legend i{display:inline-block;
width:10px;height:10px;margin-right:3px}
.links a{margin-right:6px}svg text{font:11px system-ui,sans-serif;fill:#333}
details>summary{cursor:pointer;font-weight:600;margin:.6em 0}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x"


def _mib(size: float | None) -> str:
    return "" if size is None else f"{size / 2**20:.1f} MiB"


def phase_color(name: str, phases: list[str]) -> str:
    """A phase's colour: fixed for the cycle's phases, from a small palette for others."""
    if name in PHASE_COLORS:
        return PHASE_COLORS[name]
    others = [p for p in phases if p not in PHASE_COLORS]
    return OTHER_COLORS[others.index(name) % len(OTHER_COLORS)] if name in others else "#999"


def _legend(phases: list[str]) -> str:
    items = "".join(f'<span><i style="background:{phase_color(p, phases)}"></i>{_e(p)}</span>'
                    for p in phases)
    return f'<p class="legend small">{items}</p>'


def _phase_bar(test: TestRun, scale: float, phases: list[str], width: int = 260) -> str:
    """A horizontal bar of the test's phases, ``scale`` pixels per second; a failed phase is
    outlined in red."""
    x, rects = 0.0, []
    for p in test.phases:
        w = max(p.seconds * scale, 0.5 if p.seconds > 0 else 0.0)
        stroke = "" if p.ok else ' stroke="#c62828" stroke-width="2"'
        rects.append(f'<rect class="phase" data-phase="{_e(p.name)}" x="{x:.1f}" y="1" '
                     f'width="{w:.1f}" height="12" fill="{phase_color(p.name, phases)}"'
                     f'{stroke}><title>{_e(p.name)}: {p.seconds:.2f} s'
                     f'{"" if p.ok else " (failed)"}</title></rect>')
        x += w
    return (f'<svg class="phases" width="{width}" height="14" role="img" '
            f'aria-label="phase timings">{"".join(rects)}</svg>')


def _ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering lo..hi."""
    if hi <= lo:
        hi = lo + 1
    step = 10 ** math.floor(math.log10((hi - lo) / count))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= count:
            step *= m
            break
    first = math.floor(lo / step) * step
    return [first + i * step for i in range(int(math.ceil((hi - first) / step)) + 1)]


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1 or v == 0 else f"{v:.2g}"


def _frame(title: str, ticks: list[float], unit: str, labels: list[str], left: int, top: int,
           pw: int, ph: int, lo: float, hi: float) -> list[str]:
    """Axes, grid lines, y tick labels and the nights' labels of a plot."""
    out = [f'<text x="{left}" y="12" font-weight="600">{_e(title)}</text>']
    for t in ticks:
        y = top + ph - (t - lo) / (hi - lo) * ph
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#e0e0e0"/><text x="{left - 4}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{_fmt(t)} {unit}</text>')
    band = pw / max(len(labels), 1)
    for i, label in enumerate(labels):
        cx = left + band * (i + 0.5)
        out.append(f'<text class="night-label" x="{cx:.1f}" y="{top + ph + 16}" '
                   f'text-anchor="middle">{_e(label)}</text>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + ph}" stroke="#333"/>'
               f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" '
               f'stroke="#333"/>')
    return out


def _phase_plot(trend: BoardTrend, phases: list[str]) -> str:
    """Stacked bars, one per night: the median of each phase over the board's tests."""
    w, h, left, top, right, bottom = 560, 230, 60, 24, 110, 34
    pw, ph = w - left - right, h - top - bottom
    totals = [sum(n.phases.values()) for n in trend.nights]
    ticks = _ticks(0, max(totals + [1.0]))
    hi = ticks[-1]
    out = _frame(f"{trend.board}: median phase seconds", ticks, "s",
                 [n.night for n in trend.nights], left, top, pw, ph, 0, hi)
    band = pw / len(trend.nights)
    for i, n in enumerate(trend.nights):
        x, y = left + band * (i + 0.2), top + ph
        for name in phases:
            if name not in n.phases:
                continue
            bh = n.phases[name] / hi * ph
            y -= bh
            out.append(f'<rect class="bar" data-night="{_e(n.night)}" data-phase="{_e(name)}" '
                       f'x="{x:.1f}" y="{y:.1f}" width="{band * 0.6:.1f}" height="{bh:.1f}" '
                       f'fill="{phase_color(name, phases)}"><title>{_e(n.night)} {_e(name)}: '
                       f'{n.phases[name]:.2f} s (median of {n.tests} tests)</title></rect>')
    for j, name in enumerate(p for p in phases if any(p in n.phases for n in trend.nights)):
        y = top + 12 * j
        out.append(f'<rect x="{w - right + 10}" y="{y}" width="9" height="9" '
                   f'fill="{phase_color(name, phases)}"/><text x="{w - right + 23}" '
                   f'y="{y + 9}">{_e(name)}</text>')
    return (f'<svg class="plot plot-phases" id="plot-phases-{_slug(trend.board)}" '
            f'width="{w}" height="{h}" role="img" aria-label="phase timings of '
            f'{_e(trend.board)} over the nights">{"".join(out)}</svg>')


def _size_plot(trend: BoardTrend) -> str:
    """The dump size per night: the median as a line, min..max as a whisker."""
    w, h, left, top, right, bottom = 560, 200, 60, 24, 110, 34
    pw, ph = w - left - right, h - top - bottom
    labels = [n.night for n in trend.nights]
    mib = 2**20
    # (night, median, min, max) in MiB, nights with a dump only
    data = [(n.night, n.size_median / mib, n.size_min / mib, n.size_max / mib)
            for n in trend.nights
            if n.size_median is not None and n.size_min is not None and n.size_max is not None]
    lo, hi = min(d[2] for d in data), max(d[3] for d in data)
    pad = max((hi - lo) * 0.2, 0.5)
    ticks = _ticks(max(lo - pad, 0), hi + pad)
    lo, hi = ticks[0], ticks[-1]
    out = _frame(f"{trend.board}: dump size", ticks, "MiB", labels, left, top, pw, ph, lo, hi)
    band = pw / len(labels)
    points = []
    for night, med, smin, smax in data:
        cx = left + band * (labels.index(night) + 0.5)
        y_med, y_min, y_max = (top + ph - (v - lo) / (hi - lo) * ph for v in (med, smin, smax))
        points.append(f"{cx:.1f},{y_med:.1f}")
        out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y_min:.1f}" y2="{y_max:.1f}" '
                   f'stroke="#4e79a7"/><circle class="point" data-night="{_e(night)}" '
                   f'cx="{cx:.1f}" cy="{y_med:.1f}" r="4" fill="#4e79a7"><title>{_e(night)}: '
                   f'median {med:.1f} MiB, {smin:.1f} to {smax:.1f} MiB</title></circle>')
    if len(points) > 1:
        out.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="#4e79a7"/>')
    return (f'<svg class="plot plot-size" id="plot-size-{_slug(trend.board)}" width="{w}" '
            f'height="{h}" role="img" aria-label="dump sizes of {_e(trend.board)} over the '
            f'nights">{"".join(out)}</svg>')


def _link(folder: Path, name: str, base: Path) -> str:
    rel = os.path.relpath(folder / name, base)
    size = ""
    if name == "vmcore":
        size = f" ({_mib((folder / name).stat().st_size)})"
    return f'<a href="{_e(quote(rel))}">{_e(name)}{size}</a>'


def _ticket(ticket: str | None) -> str:
    """A ticket: a link if it is a web address (clicked, never fetched), else text."""
    if not ticket:
        return ""
    if re.match(r"https?://[^\s\"'<>]+$", ticket):
        return f'<a class="ticket" href="{_e(ticket)}">{_e(ticket)}</a>'
    return f'<span class="ticket">{_e(ticket)}</span>'


def _signatures(summary: Summary) -> str:
    rows = []
    for g in summary.groups:
        j = g.judgement
        baseline = '<span class="muted">-</span>'
        if j.entry:
            note = f'<br><span class="small">{_e(j.entry.note)}</span>' if j.entry.note else ""
            baseline = f"{_e(j.entry.status)} {_ticket(j.ticket)}{note}"
        tests = "<br>".join(f"<code>{_e(t)}</code>" for t in g.tests[:4])
        if len(g.tests) > 4:  # the rest folded
            more = "<br>".join(f"<code>{_e(t)}</code>" for t in g.tests[4:])
            tests += f"<details><summary>{len(g.tests) - 4} more</summary>{more}</details>"
        seen = "" if g.in_last_night else '<br><span class="small muted">not seen last night</span>'
        rows.append(
            f'<tr class="sig sig-{j.kind}" data-signature="{_e(g.signature)}">'
            f'<td><span class="badge c-{j.kind}">{j.kind}</span>{seen}</td>'
            f'<td><code>{_e(g.signature)}</code><br><span class="small muted">{_e(j.why)}'
            f'</span></td><td>{_e(", ".join(g.kinds))}</td><td class="num count">{g.count}</td>'
            f'<td class="small">{tests}</td><td>{_e(", ".join(g.boards))}</td>'
            f'<td>{_e(g.first_seen)}</td><td>{_e(g.last_seen)}</td><td>{baseline}</td></tr>')
    if not rows:
        return '<p class="muted">No crash report in these nights.</p>'
    return ('<table id="signature-table"><thead><tr><th>class</th><th>signature</th>'
            '<th>kind</th><th>count</th><th>tests</th><th>boards</th><th>first seen</th>'
            f'<th>last seen</th><th>baseline</th></tr></thead><tbody>{"".join(rows)}'
            '</tbody></table>')


def _possibly_fixed(summary: Summary) -> str:
    if summary.baseline is None:
        return '<p class="muted">No baseline given (--baseline FILE).</p>'
    if not summary.possibly_fixed:
        return '<p class="muted">Every known bug of the baseline happened last night.</p>'
    rows = "".join(f'<tr class="fixed" data-signature="{_e(e.signature)}"><td><code>'
                   f'{_e(e.signature)}</code></td><td>{_e(e.status)}</td>'
                   f'<td>{_ticket(e.ticket)}</td><td>{_e(e.note or "")}</td></tr>'
                   for e in summary.possibly_fixed)
    return ('<p>Known crashes of the baseline that did not happen last night:</p>'
            '<table id="possibly-fixed-table"><thead><tr><th>signature</th><th>status</th>'
            f'<th>ticket</th><th>note</th></tr></thead><tbody>{rows}</tbody></table>')


def _trends(summary: Summary) -> str:
    if len(summary.nights) < 2:
        return ('<p class="muted">One night: give several nights\' folders (oldest first) '
                'for the trends.</p>')
    parts = []
    for trend in summary.trends:
        parts.append(f'<div class="trend" data-board="{_e(trend.board)}">'
                     f'{_phase_plot(trend, summary.phases)}')
        if any(n.size_median is not None for n in trend.nights):
            parts.append(_size_plot(trend))
        parts.append("</div>")
    return "".join(parts)


def _test_row(summary: Summary, test: TestRun, scale: float, base: Path, row_id: str) -> str:
    crashes = "".join(
        f'<div class="crash" data-signature="{_e(o.signature)}"><span class="badge '
        f'c-{o.judgement.kind}" title="{_e(o.judgement.why)}">{o.judgement.kind}</span> '
        f'<code>{_e(o.signature)}</code> {_ticket(o.judgement.ticket)}</div>'
        for o in summary.judgements_of(test))
    error = ""
    if test.error:
        phase = test.error.get("phase")
        error = (f'<div class="error small"><b>{_e(test.error.get("type", "error"))}</b> '
                 f'{f"[phase {_e(phase)}] " if phase else ""}'
                 f'{_e(test.error.get("message", ""))}</div>')
    links = " ".join(_link(test.folder, n, base) for n in test.files)
    what = ""
    if test.trigger == UNEXPECTED:
        what = '<br><span class="small muted">dump of a crash nobody asked for</span>'
    elif test.trigger:
        what = f'<br><span class="small muted">trigger {_e(test.trigger)}</span>'
    bar = _phase_bar(test, scale, summary.phases) if test.phases else ""
    return (f'<tr class="test outcome-{_e(test.outcome)}" id="{row_id}" '
            f'data-test="{_e(test.test)}" data-board="{_e(test.board)}">'
            f'<td><span class="badge o-{_e(test.outcome)}">{_e(test.outcome)}</span></td>'
            f'<td><code>{_e(test.test)}</code>{what}</td><td>{_e(test.board)}</td>'
            f'<td>{bar}<span class="small"> {test.total_seconds:.1f} s</span></td>'
            f'<td class="num">{_mib(test.vmcore_size)}</td><td>{crashes}{error}</td>'
            f'<td class="links small">{links}</td></tr>')


def _night(summary: Summary, night: Night, base: Path) -> str:
    longest = max((sum(p.seconds for p in t.phases) for t in night.tests), default=0.0)
    scale = 260 / longest if longest else 0.0
    rows = "".join(_test_row(summary, t, scale, base, f"t-{_slug(night.label)}-{i}")
                   for i, t in enumerate(night.tests, 1))
    counts = ", ".join(f"{n} {o}" for o, n in sorted(night.outcomes().items()))
    sessions = " ".join(f'<a href="{_e(quote(os.path.relpath(night.path / s, base)))}">'
                        f'{_e(s)}</a>' for s in night.sessions)
    return (f'<p>{len(night.tests)} tests ({_e(counts)}) on {_e(", ".join(night.boards))}; '
            f'folder <code>{_e(night.path)}</code>'
            f'{"; session logs: " + sessions if sessions else ""}</p>'
            '<table class="tests"><thead><tr><th>outcome</th><th>test</th><th>board</th>'
            '<th>phases (bar: seconds, hover for each)</th><th>dump</th>'
            '<th>crash signature</th><th>files</th></tr></thead>'
            f'<tbody>{rows}</tbody></table>')


def render(summary: Summary, base: Path) -> str:
    """The page, its links relative to ``base`` (the folder it will be written to)."""
    base = Path(base).resolve()
    last = summary.last
    counts = summary.last_counts()
    outcome_chips = " ".join(f'<span class="badge o-{_e(o)}">{n} {_e(o)}</span>'
                             for o, n in sorted(last.outcomes().items()))
    crash_chips = " ".join(f'<span class="badge c-{k}" id="count-{k}">{n} {k}</span>'
                           for k, n in counts.items())
    baseline = "no baseline"
    if summary.baseline is not None:
        where = f" <code>{_e(summary.baseline.path)}</code>" if summary.baseline.path else ""
        baseline = f"baseline{where} ({len(summary.baseline.entries)} entries)"
    nights = []
    for night in reversed(summary.nights):
        body = _night(summary, night, base)
        title = f"Tests of {_e(night.label)}"
        if night is last:
            nights.append(f'<section class="night" id="night-{_slug(night.label)}">'
                          f'<h2>{title}</h2>{body}</section>')
        else:
            nights.append(f'<section class="night" id="night-{_slug(night.label)}"><details>'
                          f'<summary>{title}</summary>{body}</details></section>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pytest-kdump nightly report: {_e(last.label)}</title><style>{CSS}</style></head>
<body>
<h1>Nightly report: {_e(last.label)}</h1>
<p class="muted">{len(summary.nights)} night(s): {_e(", ".join(n.label for n in summary.nights))};
{baseline}; pytest-kdump {_e(__version__)}</p>
<section id="summary"><p>Last night: {len(last.tests)} tests on {_e(", ".join(last.boards))}
{outcome_chips}. Crash reports: {crash_chips}.</p></section>
<section id="signatures"><h2>Crash signatures</h2>{_signatures(summary)}</section>
<section id="possibly-fixed"><h2>Possibly fixed</h2>{_possibly_fixed(summary)}</section>
<section id="trends"><h2>Over the nights</h2>{_trends(summary)}</section>
{_legend(summary.phases)}
{"".join(nights)}
</body></html>
"""


def write_html(summary: Summary, out_dir: Path) -> Path:
    """Write the page to ``out_dir/index.html`` (the folder is created) and return its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / PAGE
    partial = out_dir / f".{PAGE}.partial"
    partial.write_text(render(summary, out_dir))
    partial.replace(path)
    return path
