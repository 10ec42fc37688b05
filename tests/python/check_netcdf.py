"""Checks a NetCDF file written by `gik stream` the way its users read it: with xarray.

Usage: python check_netcdf.py SPEC.json

SPEC names the file and what it must hold (written by tests/tests/stream.rs):

    {
      "path": "out.nc",
      "dims": {"member": 2, "step": 2, "latitude": 157, "longitude": 145},
      "coords": {"step": [36, 39], "member_name": ["control", "ens01"],
                 "valid_time": ["2025-08-02T12:00:00", ...], "time": "2025-08-01T00:00:00",
                 "latitude": {"first": 25.0, "last": -14.0},
                 "longitude": {"first": 19.0, "last": 55.0}},
      "global_attrs": {"Conventions": "CF-1.8", ...},
      "var_attrs": {"tp": {"units": "m", "gik_missing_count": 0}},
      "attr_contains": {"precipitation": {"gik_missing": "gep05 f036"}},
      "compressed": ["tp", "t2m"],
      "points": [{"var": "tp", "sel": {"member": 0, "step": 36, "latitude": 0.0,
                  "longitude": 37.0}, "value": 0.0123}]     # value null: NaN expected
    }

The file is opened with the netCDF4 engine, and also with h5netcdf when h5py is installed;
every check runs on each. Exits 1 listing every mismatch, 0 when all hold.
"""

import json
import math
import sys

import numpy as np
import xarray as xr


def check(ds, spec, engine, problems):
    def fail(msg):
        problems.append(f"[{engine}] {msg}")

    for dim, size in spec.get("dims", {}).items():
        if ds.sizes.get(dim) != size:
            fail(f"dimension {dim}: {ds.sizes.get(dim)} != {size}")

    for name, want in spec.get("coords", {}).items():
        if name not in ds.variables:
            fail(f"no coordinate {name}")
            continue
        values = ds[name].values
        if isinstance(want, dict):
            flat = np.asarray(values).ravel()
            if not math.isclose(float(flat[0]), want["first"], abs_tol=1e-9):
                fail(f"{name}[0] = {flat[0]} != {want['first']}")
            if not math.isclose(float(flat[-1]), want["last"], abs_tol=1e-9):
                fail(f"{name}[-1] = {flat[-1]} != {want['last']}")
        elif name in ("valid_time", "time"):
            got = np.atleast_1d(values).astype("datetime64[s]").astype(str).tolist()
            want_list = want if isinstance(want, list) else [want]
            if got != want_list:
                fail(f"{name} = {got} != {want_list}")
        else:
            got = np.atleast_1d(values).tolist()
            if got != want:
                fail(f"{name} = {got} != {want}")

    for key, want in spec.get("global_attrs", {}).items():
        got = ds.attrs.get(key)
        if got != want:
            fail(f"global attribute {key} = {got!r} != {want!r}")

    for var, attrs in spec.get("var_attrs", {}).items():
        if var not in ds.variables:
            fail(f"no variable {var}")
            continue
        for key, want in attrs.items():
            got = ds[var].attrs.get(key)
            if isinstance(got, np.generic):
                got = got.item()
            if got != want:
                fail(f"{var}:{key} = {got!r} != {want!r}")

    for var, attrs in spec.get("attr_contains", {}).items():
        for key, needle in attrs.items():
            got = str(ds[var].attrs.get(key, ""))
            if needle not in got:
                fail(f"{var}:{key} = {got!r} does not mention {needle!r}")

    for var in spec.get("compressed", []):
        enc = ds[var].encoding
        compressed = enc.get("zlib") or enc.get("compression") in ("gzip", "zlib")
        if not compressed:
            fail(f"{var} is not deflated (encoding {enc})")
        if "chunksizes" in enc and enc["chunksizes"] is not None:
            chunks = tuple(enc["chunksizes"])
            if chunks[:2] != (1, 1):
                fail(f"{var} chunks {chunks}: expected one field per chunk")

    for p in spec.get("points", []):
        var, sel, want = p["var"], p["sel"], p["value"]
        try:
            got = float(ds[var].sel(**sel).values)
        except Exception as e:  # noqa: BLE001 - report any selection failure as a mismatch
            fail(f"{var}{sel}: {e}")
            continue
        if want is None:
            if not math.isnan(got):
                fail(f"{var}{sel} = {got}, expected NaN")
        elif math.isnan(got) or not math.isclose(
            got, want, rel_tol=p.get("rtol", 1e-5), abs_tol=p.get("atol", 1e-6)
        ):
            fail(f"{var}{sel} = {got}, expected {want}")


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    problems = []
    engines = ["netcdf4"]
    try:  # h5netcdf needs h5py, which the test virtualenv may not have: then netCDF4 only.
        import h5py  # noqa: F401

        engines.append("h5netcdf")
    except ImportError:
        pass
    for engine in engines:
        with xr.open_dataset(spec["path"], engine=engine) as ds:
            check(ds, spec, engine, problems)
    if problems:
        print(f"{spec['path']}: {len(problems)} problem(s)")
        for p in problems:
            print("  " + p)
        sys.exit(1)
    print(f"{spec['path']}: ok ({len(spec.get('points', []))} points; {', '.join(engines)})")


if __name__ == "__main__":
    main()
