"""Opens a gik virtual Icechunk repository as the README says, and checks it against ecCodes.

    check_icechunk.py REPOSITORY EXPECTED.json

REPOSITORY is a folder or ``s3://bucket/prefix`` (then the ``AWS_*`` variables name the server).

Run by ``tests/tests/icechunk.rs``. The repository is opened offline: its product's named
virtual chunk container (``s3://`` public bucket) is re-pointed at the local HTTP mirror, as a
user of a mirror would. For every check, the field at (init_time, number, step) read through
``xr.open_zarr(session.store, group=...)`` (the ``gribberish`` zarr codec) must equal ecCodes'
decode of the same message, fetched from the mirror with a Range request, and gik-core's
statistics. Exits 0 and prints ``ok: ...`` when everything matches.

EXPECTED.json::

    {"product": "gefs", "container_prefix": "http://127.0.0.1:port/noaa-gefs-pds/",
     "init_times": ["2025-07-31T00:00:00", "2025-08-01T00:00:00"], "numbers": [0, 1, 5],
     "attrs": {"licence": "..."},
     "checks": [{"group": "tp/accum/surface", "var": "tp", "init_time": "2025-08-01T00:00:00",
                 "number": 5, "step": 6, "url": "http://...", "offset": 0, "length": 10,
                 "count": n, "min": x, "max": x, "mean": x}]}
"""

import os
import urllib.request

import eccodes
import icechunk
import numpy as np
import xarray as xr

from check_manifest import compare_field, start_check, report, run_cli, step_hours


def storage_of(path):
    """A folder, or ``s3://bucket/prefix`` on the S3-compatible server the ``AWS_*`` variables
    name (the test's moto), as ``gik build --icechunk`` reads them."""
    if not path.startswith("s3://"):
        return icechunk.local_filesystem_storage(path)
    bucket, _, prefix = path[len("s3://"):].partition("/")
    return icechunk.s3_storage(
        bucket=bucket,
        prefix=prefix,
        region=os.environ.get("AWS_REGION", "us-east-1"),
        endpoint_url=os.environ.get("AWS_ENDPOINT"),
        allow_http=os.environ.get("AWS_ALLOW_HTTP") in ("true", "1"),
        access_key_id=os.environ.get("AWS_ACCESS_KEY_ID"),
        secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
        force_path_style=True,
    )


def open_repository(path, product, prefix):
    """The README's way in, with the product's container re-pointed at a mirror."""
    config = icechunk.RepositoryConfig.default()
    config.set_virtual_chunk_container(
        icechunk.VirtualChunkContainer(prefix, icechunk.http_store({"allow_http": "true"}), name=product)
    )
    return icechunk.Repository.open(
        storage_of(path),
        config=config,
        authorize_virtual_chunk_access={prefix: None},
    )


def eccodes_values(url, offset, length):
    """ecCodes' decode of one message read from the mirror (missing values as NaN)."""
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-{offset + length - 1}"})
    with urllib.request.urlopen(request) as response:
        data = response.read()
    mid = eccodes.codes_new_from_message(data)
    try:
        values = eccodes.codes_get_array(mid, "values").astype(np.float64)
        missing = eccodes.codes_get_double(mid, "missingValue")
        if eccodes.codes_get_long(mid, "bitmapPresent"):
            values[values == missing] = np.nan
        nj, ni = eccodes.codes_get_long(mid, "Nj"), eccodes.codes_get_long(mid, "Ni")
        return values.reshape(nj, ni)
    finally:
        eccodes.codes_release(mid)


def main(path, expected_path):
    expected, problems, expect = start_check(expected_path)

    repo = open_repository(path, expected["product"], expected["container_prefix"])
    session = repo.readonly_session("main")
    root = xr.open_zarr(session.store, consolidated=False)
    for key, want in expected["attrs"].items():
        expect(root.attrs.get(key) == want, f"root attribute {key}: {root.attrs.get(key)!r}")

    for check in expected["checks"]:
        where = f"{check['group']} {check['init_time']} member {check['number']} step {check['step']}"
        ds = xr.open_zarr(session.store, group=check["group"], consolidated=False)
        da = ds[check["var"]]
        expect(
            da.dims == ("init_time", "number", "step", "latitude", "longitude"),
            f"{where}: dims {da.dims}",
        )
        inits = sorted(str(t)[:19] for t in ds["init_time"].values)
        expect(inits == expected["init_times"], f"{where}: init_time {inits}")
        numbers = sorted(int(n) for n in ds["number"].values)
        expect(numbers == expected["numbers"], f"{where}: numbers {numbers}")
        steps = step_hours(ds)
        if check["step"] not in steps:
            problems.append(f"{where}: step not on the axis {steps}")
            continue
        field = da.sel(init_time=np.datetime64(check["init_time"], "ns"), number=check["number"])
        values = np.asarray(field.isel(step=steps.index(check["step"])).values)
        expect(values.dtype == np.float32, f"{where}: dtype {values.dtype}")

        reference = eccodes_values(check["url"], check["offset"], check["length"])
        if values.shape != reference.shape:
            problems.append(f"{where}: shape {values.shape}, ecCodes {reference.shape}")
            continue
        wide = values.astype(np.float64)
        same_missing = np.array_equal(np.isnan(wide), np.isnan(reference))
        expect(same_missing, f"{where}: missing points differ from ecCodes'")
        diff = np.nanmax(np.abs(wide - reference) / np.maximum(1.0, np.abs(reference)))
        expect(diff <= 1e-5, f"{where}: differs from ecCodes by {diff}")
        compare_field(expect, where, values, check)

    return report(path, problems, f"{len(expected['checks'])} fields equal ecCodes and gik-core")


if __name__ == "__main__":
    run_cli(main, __doc__)
