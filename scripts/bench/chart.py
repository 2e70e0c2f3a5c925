"""Draws appends/s against clients from one scripts/bench/run.sh result folder, as SVG.

    python3 scripts/bench/chart.py bench-results/<timestamp> [OUT.svg]

Lines: codelab on SQLite and PostgreSQL (summary.tsv rows `<backend>-append-c<N>`, messages
carrying their token counts). Points: the original implementation's W1a (one client, one
message per call) from original-sqlite-wal.json / original-pg.json when the run had
--with-original. Writes OUT.svg (default: <folder>/appends.svg). Standard library only.
"""
import json
import math
import os
import re
import sys

W, H = 640, 400
LEFT, RIGHT, TOP, BOTTOM = 70, 170, 40, 50
COLOURS = {"SQLite": "#1f77b4", "PostgreSQL": "#d62728"}


def read_codelab(folder):
    series = {"SQLite": {}, "PostgreSQL": {}}
    with open(os.path.join(folder, "summary.tsv")) as f:
        next(f)
        for line in f:
            label, _, clients, ops = line.split("\t")[:4]
            m = re.fullmatch(r"(sqlite|postgres)-append-c(\d+)", label)
            if m:
                name = "SQLite" if m.group(1) == "sqlite" else "PostgreSQL"
                series[name][int(m.group(2))] = float(ops)
    return {k: v for k, v in series.items() if v}


def read_original(folder):
    points = {}
    for name, file in (("SQLite", "original-sqlite-wal.json"), ("PostgreSQL", "original-pg.json")):
        path = os.path.join(folder, file)
        if os.path.exists(path):
            with open(path) as f:
                points[name] = float(json.load(f)["W1a_append"]["median"])
    return points


def main():
    folder = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(folder, "appends.svg")
    codelab, original = read_codelab(folder), read_original(folder)
    if not codelab:
        sys.exit(f"no <backend>-append-c<N> rows in {folder}/summary.tsv")
    clients = sorted({c for s in codelab.values() for c in s})
    top = max([v for s in codelab.values() for v in s.values()] + list(original.values()))
    step = 10 ** math.floor(math.log10(top)) / 2
    ymax = math.ceil(top / step) * step
    x_of = lambda c: LEFT + (W - LEFT - RIGHT) * math.log2(c) / max(1, math.log2(clients[-1]))
    y_of = lambda v: H - BOTTOM - (H - TOP - BOTTOM) * v / ymax
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2 - 60}" y="20" font-size="14">AppendMessages, one durable message per call</text>']
    for i in range(0, int(ymax / step) + 1):
        v = i * step
        y = y_of(v)
        svg.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        svg.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{v:,.0f}</text>')
    for c in clients:
        svg.append(f'<text x="{x_of(c):.1f}" y="{H - BOTTOM + 18}" text-anchor="middle">{c}</text>')
    svg.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 12}" text-anchor="middle">clients</text>')
    svg.append(f'<text x="16" y="{H / 2}" transform="rotate(-90 16 {H / 2})" '
               f'text-anchor="middle">appends/s</text>')
    legend_y = TOP + 10
    for name, points in codelab.items():
        colour = COLOURS[name]
        xy = " ".join(f"{x_of(c):.1f},{y_of(v):.1f}" for c, v in sorted(points.items()))
        svg.append(f'<polyline points="{xy}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for c, v in sorted(points.items()):
            svg.append(f'<circle cx="{x_of(c):.1f}" cy="{y_of(v):.1f}" r="3" fill="{colour}"/>')
        svg.append(f'<line x1="{W - RIGHT + 15}" y1="{legend_y}" x2="{W - RIGHT + 35}" '
                   f'y2="{legend_y}" stroke="{colour}" stroke-width="2"/>')
        svg.append(f'<text x="{W - RIGHT + 40}" y="{legend_y + 4}">codelab {name}</text>')
        legend_y += 20
    for name, v in original.items():
        colour = COLOURS[name]
        svg.append(f'<rect x="{x_of(1) - 4:.1f}" y="{y_of(v) - 4:.1f}" width="8" height="8" '
                   f'fill="none" stroke="{colour}" stroke-width="2"/>')
        svg.append(f'<rect x="{W - RIGHT + 21}" y="{legend_y - 4}" width="8" height="8" '
                   f'fill="none" stroke="{colour}" stroke-width="2"/>')
        svg.append(f'<text x="{W - RIGHT + 40}" y="{legend_y + 4}">original {name}</text>')
        legend_y += 20
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"chart in {out}")


if __name__ == "__main__":
    main()
