"""Regenerates the Python-written manifest fixtures from gik's own file.

Input: gik_small.parquet (written by gik: `cargo test -p gik-core --lib
manifest::parquet::tests::write_fixture -- --ignored`). The script first checks that pandas and
pyarrow read gik's file as INTEROP.md says (key: string, value: binary), then writes the same
rows the ways Python users write tables. Used with pandas 3.1.1, pyarrow 26.0.1:

    python make_fixtures.py
"""
import pathlib

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

here = pathlib.Path(__file__).parent

t = pq.read_table(here / "gik_small.parquet")
assert t.schema.field("key").type == pa.string(), t.schema
assert t.schema.field("value").type == pa.binary(), t.schema
assert t.schema.metadata[b"gik_manifest_version"] == b"1"
df = pd.read_parquet(here / "gik_small.parquet")
assert list(df["key"]) == sorted(df["key"])
assert all(isinstance(v, bytes) for v in df["value"])
assert df["value"][list(df["key"]).index("tp/step/0")] == b"base64:BgAAAAAAAAAMAAAAAAAAAA=="

rev = df.iloc[::-1]
# pandas default: snappy, key large_string, value binary, RangeIndex kept as metadata only.
rev.reset_index(drop=True).to_parquet(here / "pandas_snappy.parquet")
# A non-range index becomes a real `__index_level_0__` column.
rev.set_index(pd.Index([f"r{i}" for i in range(len(rev))])).to_parquet(
    here / "pandas_index.parquet"
)
# value as a (nullable) string column, uncompressed.
strs = pa.table(
    {"key": pa.array(list(rev["key"]), pa.string()),
     "value": pa.array([v.decode() for v in rev["value"]], pa.string())}
)
pq.write_table(strs, here / "pyarrow_str_none.parquet", compression="none")
# Several row groups, dictionary-encoded, large_string key.
lt = pa.table(
    {"key": pa.array(list(df["key"]), pa.large_string()),
     "value": pa.array(list(df["value"]), pa.large_binary())}
)
pq.write_table(lt, here / "pyarrow_row_groups.parquet", row_group_size=2,
               compression="snappy", use_dictionary=True, data_page_version="2.0")
# zstd: not compiled into gik-core, must give a clean error.
pq.write_table(t, here / "pyarrow_zstd.parquet", compression="zstd")
print("ok")
