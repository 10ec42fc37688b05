"""Opens a gik ensemble manifest the way the README says, and checks every member in it.

    check_ensemble.py ENSEMBLE.parquet EXPECTED.json

Run by ``tests/tests/interop.rs``. The ensemble manifest is opened with the README's snippet
(``check_manifest.open_manifest``); each checked member's own manifest is opened the same way.
For every check, the ensemble's field at ``number=k`` must equal, value for value, the field
member k's manifest gives (both decoded by kerchunk's ``grib`` codec, i.e. ecCodes), and match
gik-core's decode of the same message (count, min, max, mean, points). Exits 0 and prints
``ok: ...`` when everything matches; otherwise prints every mismatch and exits 1.

EXPECTED.json::

    {"remote_protocol": "http", "numbers": [0, 1, 5], "root_attrs": {"product": "gefs"},
     "members": {"5": "/abs/2025080100z-gep05.parquet", ...},
     "checks": [{"number": 5, "group": "tp/accum/surface", "var": "tp", "step": 6,
                 "steps": [...], "shape": [nj, ni], "count": n, "min": x, "max": x, "mean": x,
                 "points": [[j, i, value], ...]}]}
"""

import numpy as np

from check_manifest import compare_field, start_check, open_manifest, report, run_cli, step_hours


def main(parquet, expected_path):
    expected, problems, expect = start_check(expected_path)
    protocol = expected["remote_protocol"]

    tree = open_manifest(parquet, protocol)
    for key, want in expected["root_attrs"].items():
        got = tree.attrs.get(key)
        expect(got == want, f"root attribute {key}: {got!r}, expected {want!r}")
    expect("member" not in tree.attrs, f"root attribute member: {tree.attrs.get('member')!r}")

    members = {}
    for check in expected["checks"]:
        k = check["number"]
        where = f"{check['group']} member {k} step {check['step']}"
        ds = tree[check["group"]].ds
        da = ds[check["var"]]
        expect(
            da.dims == ("number", "step", "latitude", "longitude"),
            f"{where}: dims {da.dims}",
        )
        numbers = [int(n) for n in ds["number"].values]
        expect(numbers == expected["numbers"], f"{where}: numbers {numbers}")
        steps = step_hours(ds)
        expect(steps == check["steps"], f"{where}: steps {steps}, expected {check['steps']}")
        if k not in numbers or check["step"] not in steps:
            continue
        values = np.asarray(da.sel(number=k).isel(step=steps.index(check["step"])).values)
        expect(values.dtype == np.float32, f"{where}: dtype {values.dtype}")
        if list(values.shape) != check["shape"]:
            problems.append(f"{where}: shape {values.shape}, expected {check['shape']}")
            continue

        # The member's own manifest, opened the same way, gives the same field.
        if k not in members:
            members[k] = open_manifest(expected["members"][str(k)], protocol)
        own = members[k][check["group"]].ds
        own_values = np.asarray(
            own[check["var"]].isel(step=step_hours(own).index(check["step"])).values
        )
        expect(
            np.array_equal(values, own_values, equal_nan=True),
            f"{where}: differs from the member's own manifest",
        )

        # And gik-core's decode of the message.
        compare_field(expect, where, values, check)

    summary = f"{len(expected['checks'])} member fields match their manifests and gik-core"
    return report(parquet, problems, summary)

if __name__ == "__main__":
    run_cli(main, __doc__)
