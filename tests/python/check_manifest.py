"""Opens a gik member manifest the way users do, and checks it against gik-core's decode.

    check_manifest.py MANIFEST.parquet EXPECTED.json

Run by ``tests/tests/interop.rs``, which writes EXPECTED.json from gik-core's decode of the same
chunks. The manifest is opened exactly as ``../shared/INTEROP.md`` says (``open_manifest``):
pandas reads the two-column parquet, the references go into fsspec's reference filesystem over
HTTP, zarr's ``FsspecStore`` gives xarray a store, and kerchunk's ``grib`` codec decodes each
chunk with ecCodes. Exits 0 and prints ``ok: ...`` when everything matches; otherwise prints
every mismatch and exits 1.

EXPECTED.json::

    {"remote_protocol": "http", "keys": 123, "run": "2025-08-01T00:00:00",
     "root_attrs": {"product": "gefs", "member": "gep05"},
     "checks": [{"group": "tp/accum/surface", "var": "tp", "step": 6, "steps": [3, 6, 9, 12],
                 "shape": [nj, ni], "count": n, "min": x, "max": x, "mean": x,
                 "points": [[j, i, value], ...], "lat": [first, last], "lon": [first, last]}]}
"""

import json
import sys

import fsspec
import numpy as np
import pandas as pd
import xarray as xr
import zarr


def load_refs(parquet):
    """The manifest as pandas sees it, and its references (INTEROP.md's open_manifest)."""
    df = pd.read_parquet(parquet)
    refs = {}
    for k, v in zip(df["key"], df["value"]):
        v = v.decode() if isinstance(v, bytes) else v
        refs[k] = json.loads(v) if v[:1] in "[{" else v
    return df, refs


def open_store(refs, remote_protocol=None, remote_options=None):
    """A read-only zarr store over the references (INTEROP.md's open_manifest)."""
    ro = {**(remote_options or {}), "asynchronous": True}
    fs = fsspec.filesystem(
        "reference",
        fo={"version": 1, "refs": refs},
        remote_protocol=remote_protocol,
        remote_options=ro,
        asynchronous=True,
    )
    return zarr.storage.FsspecStore(fs, read_only=True)


def open_manifest(parquet, remote_protocol=None, remote_options=None):
    """INTEROP.md's open_manifest, verbatim in effect."""
    _, refs = load_refs(parquet)
    store = open_store(refs, remote_protocol, remote_options)
    return xr.open_datatree(store, engine="zarr", consolidated=False)


def close(a, b, rtol=1e-5, atol=1e-9):
    """Float equality up to the last bits of two decoders (ecCodes in float64, gik in f32)."""
    if a is None or b is None:
        return (a is None or np.isnan(a)) and (b is None or np.isnan(b))
    a, b = float(a), float(b)
    if np.isnan(a) or np.isnan(b):
        return np.isnan(a) and np.isnan(b)
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def compare_field(expect, where, values, check):
    """Checks a decoded 2-D field against gik-core's figures in `check`: count of values,
    min, max, mean, and the `points` ([j, i, value]) when given."""
    wide = values.astype(np.float64)
    count = int(np.count_nonzero(~np.isnan(wide)))
    expect(count == check["count"], f"{where}: {count} values, expected {check['count']}")
    for stat, got in [
        ("min", np.nanmin(wide)),
        ("max", np.nanmax(wide)),
        ("mean", np.nanmean(wide)),
    ]:
        expect(close(got, check[stat]), f"{where}: {stat} {got!r}, expected {check[stat]!r}")
    for j, i, want in check.get("points", []):
        got = values[j, i]
        expect(close(got, want), f"{where}: value at [{j}, {i}] {got!r}, expected {want!r}")


def start_check(expected_path):
    """The expectations in `expected_path`, an empty problem list and `expect(ok, message)`,
    which records `message` as a problem when `ok` is false."""
    with open(expected_path) as f:
        expected = json.load(f)
    problems = []

    def expect(ok, message):
        if not ok:
            problems.append(message)

    return expected, problems, expect


def report(path, problems, summary):
    """Prints the problems found in `path` (exit status 1), or `ok: path: summary` (0)."""
    if problems:
        print(f"{path}: {len(problems)} problem(s)")
        for p in problems:
            print("  " + p)
        return 1
    print(f"ok: {path}: {summary}")
    return 0


def run_cli(main, doc):
    """Runs a check from the command line: `main(MANIFEST, EXPECTED.json)`'s status, or the
    usage `doc` and status 2 for any other number of arguments."""
    if len(sys.argv) != 3:
        print(doc)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))


def check_row_groups(parquet, expect):
    """pyarrow sees gik's layout (core/src/manifest/parquet/ranged.rs): the footer's
    ``gik_row_groups`` index maps each top-level group ("" for the root's own keys) to the row
    group holding exactly its keys, and every row group is named once."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(parquet)
    index = json.loads(pf.metadata.metadata[b"gik_row_groups"])
    expect(sorted(index.values()) == list(range(pf.num_row_groups)), f"row-group index {index}")
    for name, i in index.items():
        keys = pf.read_row_group(i, columns=["key"]).column("key").to_pylist()
        groups = {k.split("/", 1)[0] if "/" in k else "" for k in keys}
        expect(groups == {name}, f"row group {i} ({name!r}) holds groups {sorted(groups)}")


def step_hours(ds):
    """The step coordinate in hours, whether xarray decoded it as timedelta64 or not."""
    values = ds["step"].values
    if np.issubdtype(values.dtype, np.timedelta64):
        return [int(v // np.timedelta64(1, "h")) for v in values]
    return [int(v) for v in values]


def main(parquet, expected_path):
    expected, problems, expect = start_check(expected_path)

    # 1. pandas: two columns, key (str) and value (bytes), one row per reference.
    df, refs = load_refs(parquet)
    expect(list(df.columns) == ["key", "value"], f"columns {list(df.columns)}")
    expect(len(df) == expected["keys"], f"{len(df)} rows, expected {expected['keys']}")
    expect(df["key"].is_unique, "duplicate keys")
    expect(all(isinstance(k, str) for k in df["key"]), "a key is not a str")
    expect(all(isinstance(v, bytes) for v in df["value"]), "a value is not bytes")
    expect(".zgroup" in refs, "no root .zgroup")
    check_row_groups(parquet, expect)

    # 2. xarray through fsspec's reference filesystem, as a datatree.
    dt = open_manifest(parquet, expected["remote_protocol"])
    for key, want in expected["root_attrs"].items():
        got = dt.attrs.get(key)
        expect(got == want, f"root attribute {key}: {got!r}, expected {want!r}")

    for n, check in enumerate(expected["checks"]):
        where = f"{check['group']} step {check['step']}"
        try:
            ds = dt[check["group"]].ds  # a path: `in` only sees direct children
        except KeyError:
            problems.append(f"{where}: group missing from the datatree: {dt}")
            continue
        if check["var"] not in ds:
            problems.append(f"{where}: no variable {check['var']} in {list(ds.data_vars)}")
            continue
        da = ds[check["var"]]
        expect(da.dims == ("step", "latitude", "longitude"), f"{where}: dims {da.dims}")
        steps = step_hours(ds)
        expect(steps == check["steps"], f"{where}: steps {steps}, expected {check['steps']}")
        if check["step"] not in steps:
            continue
        index = steps.index(check["step"])
        field = da.isel(step=index)
        values = np.asarray(field.values)
        expect(values.dtype == np.float32, f"{where}: dtype {values.dtype}")
        expect(list(values.shape) == check["shape"], f"{where}: shape {values.shape}")
        if list(values.shape) != check["shape"]:
            continue

        # The second documented way in: open_dataset with group= (first check only).
        if n == 0:
            store = open_store(refs, expected["remote_protocol"])
            other = xr.open_dataset(
                store, engine="zarr", group=check["group"], consolidated=False
            )[check["var"]].isel(step=index).values
            expect(
                np.array_equal(other, values, equal_nan=True),
                f"{where}: open_dataset(group=) differs from open_datatree",
            )

        compare_field(expect, where, values, check)

        # Coordinates.
        lat = ds["latitude"].values
        lon = ds["longitude"].values
        expect(
            close(lat[0], check["lat"][0]) and close(lat[-1], check["lat"][1]),
            f"{where}: latitudes {lat[0]}..{lat[-1]}, expected {check['lat']}",
        )
        expect(
            close(lon[0], check["lon"][0]) and close(lon[-1], check["lon"][1]),
            f"{where}: longitudes {lon[0]}..{lon[-1]}, expected {check['lon']}",
        )
        run = np.datetime64(expected["run"], "ns")
        time = ds["time"].values
        expect(time == run, f"{where}: time {time}, expected {run}")
        valid = field["valid_time"].values
        want_valid = run + np.timedelta64(check["step"], "h")
        expect(valid == want_valid, f"{where}: valid_time {valid}, expected {want_valid}")

    return report(parquet, problems, f"{len(df)} keys, {len(expected['checks'])} chunks match gik-core")


if __name__ == "__main__":
    run_cli(main, __doc__)
