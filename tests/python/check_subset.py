"""Decodes gik's regional subset files with ecCodes and compares them with gik-core's values.

    check_subset.py EXPECTED.json

Run by ``tests/tests/subsets.rs``. EXPECTED.json lists GRIB2 files and, per message, its offset
and length, the point count, Ni and Nj, an FNV-1a 64 hash of the values as little-endian
float32 (NaN, a missing point, hashed as 0x7fc00000) — the values gik-core found in the source
message at the same points — and where the source message was saved: ecCodes must describe
both as the same field (shortName, paramId, step, member, level, date). Prints ``ok: ...`` and
exits 0 when ecCodes agrees on every message; otherwise prints every mismatch and exits 1.
"""

import json
import sys

import eccodes
import numpy as np

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK = (1 << 64) - 1


def fnv1a64(values: np.ndarray) -> int:
    bits = values.astype("<f4").view("<u4").copy()
    bits[np.isnan(values)] = 0x7FC00000
    h = FNV_OFFSET
    for b in bits.tobytes():
        h = ((h ^ b) * FNV_PRIME) & MASK
    return h


IDENTITY = ["shortName", "paramId", "stepRange", "number", "typeOfLevel", "level", "dataDate",
            "dataTime", "units"]


def identity(message: bytes) -> dict:
    h = eccodes.codes_new_from_message(message)
    try:
        return {k: eccodes.codes_get(h, k) for k in IDENTITY}
    finally:
        eccodes.codes_release(h)


def main() -> int:
    expected = json.load(open(sys.argv[1]))
    problems, checked = [], 0
    for f in expected["files"]:
        data = open(f["path"], "rb").read()
        for m in f["messages"]:
            label = f"{f['path']}@{m['offset']}"
            h = eccodes.codes_new_from_message(data[m["offset"]: m["offset"] + m["length"]])
            try:
                values = eccodes.codes_get_values(h)
                if eccodes.codes_get(h, "bitmapPresent"):
                    missing = eccodes.codes_get(h, "missingValue")
                    values = np.where(values == missing, np.nan, values)
                values = values.astype(np.float32)
                got = {
                    "count": int(values.size),
                    "Ni": eccodes.codes_get(h, "Ni"),
                    "Nj": eccodes.codes_get(h, "Nj"),
                    "hash": fnv1a64(values),
                }
            finally:
                eccodes.codes_release(h)
            for key, value in got.items():
                if value != m[key]:
                    problems.append(f"{label}: {key} ecCodes {value}, gik {m[key]}")
            src = m["source"]
            source = open(src["path"], "rb").read()[src["offset"]: src["offset"] + src["length"]]
            ours = identity(data[m["offset"]: m["offset"] + m["length"]])
            theirs = identity(source)
            if ours != theirs:
                problems.append(f"{label}: ecCodes reads {ours}, the source is {theirs}")
            checked += 1
    if problems:
        print("\n".join(problems))
        return 1
    print(f"ok: {checked} messages equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
