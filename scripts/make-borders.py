#!/usr/bin/env python3
"""Converts Natural Earth country outlines (TopoJSON from the npm `world-atlas` package) into
the compact line file the gik app draws: static/borders/borders-50m.json.

Run once, by hand, when the source changes; the output is committed (the build never runs
this, and needs no network):

    cd "$(mktemp -d)" && npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python3 /path/to/gik/scripts/make-borders.py package/countries-50m.json \
        /path/to/gik/static/borders/borders-50m.json

Every arc of the `countries` object is written once: shared arcs are land borders, the others
are coastlines. Coordinates are rounded to 0.01 degree and delta-encoded as integers:

    {"source": ..., "licence": ..., "scale": 100,
     "lines": [[lon0, lat0, dlon1, dlat1, dlon2, dlat2, ...], ...]}

where lon0/lat0 are degrees*scale and each following pair is the difference to the previous
point (so most numbers have one or two digits). Consecutive duplicate points are dropped.
Only the Python standard library is used.
"""
import json
import sys


def decode_arcs(topo):
    """TopoJSON arcs to lists of (lon, lat), undoing quantization and delta encoding."""
    transform = topo.get("transform")
    out = []
    for arc in topo["arcs"]:
        if transform:
            (sx, sy), (tx, ty) = transform["scale"], transform["translate"]
            x = y = 0
            pts = []
            for dx, dy in arc:
                x += dx
                y += dy
                pts.append((x * sx + tx, y * sy + ty))
        else:
            pts = [(p[0], p[1]) for p in arc]
        out.append(pts)
    return out


def used_arcs(obj):
    """Indices of the arcs used by a geometry collection (negative index ~i means arc i reversed)."""
    seen = set()

    def walk(a):
        if isinstance(a, int):
            seen.add(a if a >= 0 else ~a)
        else:
            for b in a:
                walk(b)

    for g in obj["geometries"]:
        if "arcs" in g:
            walk(g["arcs"])
    return sorted(seen)


def main(src, dst, scale=100):
    with open(src) as f:
        topo = json.load(f)
    arcs = decode_arcs(topo)
    lines = []
    for i in used_arcs(topo["objects"]["countries"]):
        pts = []
        for lon, lat in arcs[i]:
            p = (round(lon * scale), round(lat * scale))
            if not pts or pts[-1] != p:
                pts.append(p)
        if len(pts) < 2:
            continue
        flat = [pts[0][0], pts[0][1]]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            flat += [x1 - x0, y1 - y0]
        lines.append(flat)
    doc = {
        "source": "Natural Earth 1:50m Admin 0 countries (v4.1.0), via npm world-atlas 2.0.2 "
        "countries-50m.json",
        "licence": "Natural Earth: public domain; world-atlas: ISC, (c) 2013-2019 Michael Bostock",
        "scale": scale,
        "lines": lines,
    }
    with open(dst, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    print(f"{dst}: {len(lines)} lines, {sum(len(l) // 2 for l in lines)} points")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
