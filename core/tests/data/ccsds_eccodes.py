"""Writes ccsds_eccodes.json: ecCodes' decoded values of every CCSDS (5.42) message of the shared
fixtures, as a digest gik's own CCSDS decoder is checked against (core/tests/ccsds_eccodes.rs).

    python core/tests/data/ccsds_eccodes.py $GIK_FIXTURES > core/tests/data/ccsds_eccodes.json

Needs python `eccodes` (2.50.0 with its bundled libaec) and numpy. Per message: offset, number of
values, the FNV-1a 64 hash of the values as little-endian float32 (ecCodes' float64 values
rounded to float32; missing points as NaN bits 0x7fc00000), and every 997th value.
"""
import json
import sys

import eccodes
import numpy as np

FILES = [
    "ecmwf/20240101000000-0h-oper-fc.grib2.0-10",
    "ecmwf/ecmwf-ifs-oper-surface.grib2",
    "ecmwf/aifs-ens-cf-t500.grib2",
    "misc/meteofrance.arome-TCDC.grib2",
    "misc/chem_ll.grib2",
]


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    arr = np.frombuffer(data, dtype=np.uint8)
    for b in arr.tolist():
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main(root: str) -> None:
    out = {"eccodes": eccodes.codes_get_api_version(), "messages": []}
    for name in FILES:
        with open(f"{root}/{name}", "rb") as f:
            data = f.read()
        with open(f"{root}/{name}", "rb") as f:
            while True:
                h = eccodes.codes_grib_new_from_file(f)
                if h is None:
                    break
                try:
                    offset = int(eccodes.codes_get(h, "offset"))
                    values = eccodes.codes_get_double_array(h, "values")
                    if eccodes.codes_get(h, "bitmapPresent"):
                        missing = eccodes.codes_get(h, "missingValue")
                        values = np.where(values == missing, np.nan, values)
                finally:
                    eccodes.codes_release(h)
                v32 = values.astype("<f4")
                v32[np.isnan(v32)] = np.frombuffer(b"\x00\x00\xc0\x7f", dtype="<f4")[0]
                out["messages"].append(
                    {
                        "file": name,
                        "offset": offset,
                        "count": int(v32.size),
                        "fnv1a64": f"{fnv1a64(v32.tobytes()):016x}",
                        "every_997th": [None if np.isnan(x) else float(x) for x in v32[::997]],
                    }
                )
    # One message per line, so that a change reads as a diff per message.
    lines = ",\n".join(json.dumps(m, separators=(",", ":")) for m in out["messages"])
    sys.stdout.write(f'{{"eccodes":"{out["eccodes"]}","messages":[\n{lines}\n]}}\n')


if __name__ == "__main__":
    main(sys.argv[1])
