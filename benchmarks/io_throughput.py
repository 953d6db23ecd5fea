"""Benchmark: SAS XPT v5 and Dataset-JSON write/read throughput on a 1,000,000-row LB dataset, next to pyreadstat.

Uses the LB of the large benchmark study (benchmarks/validate_large.py prepares it; a smaller study is generated
here when it is missing), repeated to exactly the requested number of rows. Prints MB/s and rows/s per step.

    python benchmarks/io_throughput.py [--rows 1000000]
"""
from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
WHEN = dt.datetime(2015, 6, 30, 12, 0, 0)


def lb_frame(rows: int) -> pd.DataFrame:
    """An LB dataset of exactly `rows` records from the benchmark study."""
    from cdisc_il2.formats import read_dataset

    found = sorted(HERE.glob("data/study-*/out/sdtm/lb.csv"))
    if not found:
        from cdisc_il2.convert import map_transfer, write_outputs
        from cdisc_il2.samples import generate

        base = HERE / "data" / "study-400-1"
        generate(400, 1, base / "raw")
        write_outputs(map_transfer(base / "raw"), base / "out")
        found = [base / "out" / "sdtm" / "lb.csv"]
    lb = read_dataset(found[-1]).frame
    reps = -(-rows // len(lb))
    return pd.concat([lb] * reps, ignore_index=True).iloc[:rows].reset_index(drop=True)


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()
    import pyreadstat

    from cdisc_il2.export import describe
    from cdisc_il2.formats import Dataset, read_dataset
    from cdisc_il2.formats.datasetjson import write_dataset_json
    from cdisc_il2.formats.xpt import write_xpt

    frame = lb_frame(args.rows)
    ds = describe(Dataset("LB", "Laboratory Test Results", frame))
    header = {"created": "2015-06-30T12:00:00", "modified": "2015-06-30T12:00:00", "fileOID": "bench", "version": "b",
              "studyOID": "bench", "metaDataVersionOID": "bench"}
    labels = [c.label for c in ds.columns]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        steps = [
            ("cdisc-il2 XPT write", d / "lb.xpt", lambda: write_xpt(ds, d / "lb.xpt", WHEN)),
            ("cdisc-il2 XPT read", d / "lb.xpt", lambda: read_dataset(d / "lb.xpt")),
            ("pyreadstat XPT write", d / "lb_rs.xpt", lambda: pyreadstat.write_xport(
                frame.astype({c: "object" for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])}),
                str(d / "lb_rs.xpt"), table_name="LB", column_labels=labels, file_format_version=5)),
            ("pyreadstat XPT read", d / "lb_rs.xpt", lambda: pyreadstat.read_xport(str(d / "lb_rs.xpt"))),
            ("pandas.read_sas XPT read", d / "lb.xpt", lambda: pd.read_sas(d / "lb.xpt", format="xport", encoding="latin-1")),
            ("cdisc-il2 Dataset-JSON write", d / "lb.json", lambda: write_dataset_json(ds, d / "lb.json", header)),
            ("cdisc-il2 Dataset-JSON read", d / "lb.json", lambda: read_dataset(d / "lb.json")),
            ("cdisc-il2 NDJSON write", d / "lb.ndjson", lambda: write_dataset_json(ds, d / "lb.ndjson", header,
                                                                                    ndjson=True)),
            ("cdisc-il2 NDJSON read", d / "lb.ndjson", lambda: read_dataset(d / "lb.ndjson")),
        ]
        for label, path, fn in steps:
            secs, _ = timed(fn)
            mb = path.stat().st_size / 1e6
            rows.append((label, secs, mb))
    print(f"\nI/O throughput, LB with {args.rows:,} rows x {frame.shape[1]} variables")
    print(f"{'step':<30}{'seconds':>9}{'file MB':>10}{'MB/s':>9}{'rows/s':>12}")
    for label, secs, mb in rows:
        print(f"{label:<30}{secs:>9.1f}{mb:>10.1f}{mb / secs:>9.1f}{args.rows / secs:>12,.0f}")


if __name__ == "__main__":
    main()
