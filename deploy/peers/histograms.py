#!/usr/bin/env python3
"""histograms.py: the latency histogram pictures of a side-by-side run.

    deploy/peers/histograms.py OUT_DIR [DEST_DIR]

Reads the generator's JSON of every run of deploy/peers/sidebyside.sh in
OUT_DIR (<tag>-<target>-<rate>.json, the send → delivery latency's coarse
bars, `latency.bins`: four per decade from 0.1 ms) and writes one SVG per
offered rate into DEST_DIR (default OUT_DIR), hist-<rate>.svg: the share of
deliveries per bar, one line per system (peer, all-in-one, split), on a
logarithmic time axis, with each system's p50 and p99 in the legend. A
rate measured more than once (several rounds) is drawn from the round
whose all-in-one p99 is the median of them, so every system in a picture
comes from the same minute. Only the standard library: SVG is text.
"""

import glob
import json
import math
import os
import re
import sys

SYSTEMS = [("peer", "centrifuge peer", "#777777"),
           ("dev", "happychat all-in-one", "#1f77b4"),
           ("split", "happychat split", "#d62728"),
           # the Kafka floors (kafkafloor): a record's slot to its answer
           ("floorgroup", "floor: happychat's transactions", "#2ca02c"),
           ("floorraw2", "floor: 2 in flight, raw offsets", "#9467bd"),
           ("floorack", "floor: acks=all, no transaction", "#ff7f0e")]
W, H = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 30, 50


def load(out_dir):
    """{rate: {tag: {target: latency}}} of every run with bins."""
    runs = {}
    for path in glob.glob(os.path.join(out_dir, "*.json")):
        m = re.match(r"(.+)-(peer|dev|split|floorgroup|floorraw2|floorack)-(\d+)\.json$", os.path.basename(path))
        if not m:
            continue
        tag, target, rate = m.group(1), m.group(2), int(m.group(3))
        with open(path) as f:
            try:
                lat = json.load(f).get("latency") or {}
            except json.JSONDecodeError:
                continue
        if lat.get("bins"):
            runs.setdefault(rate, {}).setdefault(tag, {})[target] = lat
    return runs


def pick(tags):
    """The round whose all-in-one (else any system's) p99 is the median."""
    def key(tag):
        r = tags[tag]
        lat = r.get("dev") or next(iter(r.values()))
        return lat["p99_ms"]
    ordered = sorted(tags, key=key)
    return ordered[len(ordered) // 2]


def fmt(ms):
    return f"{ms / 1000:.3g} s" if ms >= 1000 else f"{ms:.3g} ms"


def x_of(ms, lo, hi):
    return LEFT + (math.log10(ms) - lo) / (hi - lo) * (W - LEFT - RIGHT)


def svg(rate, tag, systems):
    lo = math.log10(0.1)
    top_ms = max(b["le_ms"] for lat in systems.values() for b in lat["bins"] if b["n"])
    hi = math.ceil(math.log10(top_ms))
    shares = {t: [(b["le_ms"], b["n"] / max(lat["n"], 1)) for b in lat["bins"]] for t, lat in systems.items()}
    ymax = max(s for bars in shares.values() for _, s in bars) or 1
    ymax = math.ceil(ymax * 1.3 * 10) / 10  # headroom for the legend

    def y_of(share):
        return H - BOTTOM - share / ymax * (H - TOP - BOTTOM)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="18" text-anchor="middle" font-size="14">send → delivery latency at {rate * 20:,} deliveries/s ({rate:,} sends/s × 20), run {tag}</text>']
    for d in range(int(lo), hi + 1):  # decades
        x = x_of(10 ** d, lo, hi)
        label = f"{10 ** d:g} ms" if d < 3 else f"{10 ** (d - 3):g} s"
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{H - BOTTOM}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{label}</text>')
    for i in range(0, 11, 2):
        s = ymax * i / 10
        y = y_of(s)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{s * 100:.0f} %</text>')
    out.append(f'<text x="{W / 2}" y="{H - 12}" text-anchor="middle">latency (four bars per decade, log scale); y: share of the deliveries</text>')
    drawn = [(t, name, colour) for t, name, colour in SYSTEMS if t in shares]
    for target, _, colour in drawn:
        pts, prev = [], 0.1
        for le, share in shares[target]:
            x0, x1 = x_of(prev, lo, hi), x_of(le, lo, hi)
            pts += [f"{x0:.1f},{y_of(share):.1f}", f"{x1:.1f},{y_of(share):.1f}"]
            prev = le
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(pts)}"/>')
    # wide enough for the longest line (about 6.5 px a character at 12 px)
    lw = max(330, max(int(6.5 * (len(name) + 32)) for _, name, _ in drawn))
    lx = W - RIGHT - lw
    out.append(f'<rect x="{lx - 6}" y="{TOP}" width="{lw + 4}" height="{16 * len(drawn) + 6}" fill="white" fill-opacity="0.85"/>')
    for i, (target, name, colour) in enumerate(drawn):
        lat, y = systems[target], TOP + 14 + 16 * i
        out.append(f'<line x1="{lx}" y1="{y - 4}" x2="{lx + 20}" y2="{y - 4}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<text x="{lx + 25}" y="{y}">{name}: p50 {fmt(lat["p50_ms"])}, p99 {fmt(lat["p99_ms"])}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    dest = sys.argv[2] if len(sys.argv) == 3 else out_dir
    os.makedirs(dest, exist_ok=True)
    runs = load(out_dir)
    if not runs:
        sys.exit(f"no generator JSON with latency bins in {out_dir}")
    for rate in sorted(runs):
        tag = pick(runs[rate])
        path = os.path.join(dest, f"hist-{rate}.svg")
        with open(path, "w") as f:
            f.write(svg(rate, tag, runs[rate][tag]))
        print(path, "from", tag, "systems:", " ".join(sorted(runs[rate][tag])))


if __name__ == "__main__":
    main()
