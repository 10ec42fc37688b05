"""Manual interop check: xarray opens a manifest written by gik's ManifestBuilder.

    cargo test -p gik-core --lib manifest::layout::tests::write_interop_example -- --ignored
    python open_with_xarray.py [$TMPDIR/gik_tp_example.parquet]

Opens the manifest with the INTEROP.md recipe (zarr 2 variant: fs.get_mapper) and checks the
tree, dimensions and every coordinate value. The GRIB messages are not fetched: the data
variable is only opened lazily. Verified with Python 3.11, zarr 2.18.7, numcodecs 0.15.2,
kerchunk 0.2.7, xarray 2026.7.0.
"""
import json
import os
import sys
import tempfile

import fsspec
import numpy as np
import pandas as pd
import xarray as xr

path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    tempfile.gettempdir(), "gik_tp_example.parquet")
df = pd.read_parquet(path)
refs = {}
for k, v in zip(df["key"], df["value"]):
    v = v.decode() if isinstance(v, bytes) else v
    refs[k] = json.loads(v) if v[:1] in "[{" else v
# No chunk is fetched, so the s3:// URLs are served by the in-memory file system (no s3fs).
fs = fsspec.filesystem("reference", fo={"version": 1, "refs": refs}, remote_protocol="memory")
tree = xr.open_datatree(fs.get_mapper(""), engine="zarr", consolidated=False)
ds = tree["tp/accum/surface"].ds
print(ds)
assert ds.tp.dims == ("step", "latitude", "longitude"), ds.tp.dims
assert ds.tp.shape == (2, 721, 1440)
assert set(ds.coords) == {"time", "step", "valid_time", "latitude", "longitude"}, ds.coords
assert list(ds.step.values) == [np.timedelta64(6, "h"), np.timedelta64(12, "h")], ds.step.values
assert ds.time.values == np.datetime64("2020-03-14T00:00:00"), ds.time.values
assert list(ds.valid_time.values) == [np.datetime64("2020-03-14T06:00:00"),
                                      np.datetime64("2020-03-14T12:00:00")]
assert ds.latitude.values[0] == 90.0 and ds.latitude.values[-1] == -90.0
assert ds.longitude.values[-1] == 359.75
assert ds.tp.attrs["units"] == "kg m**-2"
assert np.isnan(ds.tp.encoding.get("_FillValue", np.nan))
print("ok")
