"""The export stage: SAS XPT v5, Dataset-JSON v1.1 (JSON/NDJSON) and Define-XML 2.1 from one metadata source."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from .. import __version__
from ..config import define_config
from ..errors import IncompleteOutput, InputError
from ..formats import ColumnMeta, Dataset, read_folder
from ..formats.datasetjson import column_definitions, value_frame, write_dataset_json
from ..formats.xpt import XptValueError, unfit_values, write_xpt
from ..metadata import adam_datasets, adam_standard_variable, adam_structure, sdtm_dataset_label, sdtm_variables
from ..resources import load_study
from .define import build_define, write_define

FORMATS = ("xpt", "json", "ndjson")


def _label_sources(name: str) -> list[pd.DataFrame]:
    out = []
    for key in ("SUPPQUAL" if name.startswith("SUPP") else name, adam_datasets().get(name, {}).get("predecessor", "")):
        try:
            out.append(sdtm_variables(key))
        except KeyError:
            continue
    return out


def describe(ds: Dataset) -> Dataset:
    """The dataset with submission metadata: standard labels and types, dataset label, ADaM date formats.

    An ADaM variable takes its ADaMIG label (a pattern entry's with the index filled in: TRT01P 'Planned Treatment
    for Period 01'), else its SDTM predecessor's, else the sponsor's in mappings/define.yaml `labels`."""
    known: dict[str, tuple[str, str]] = {}
    for meta in reversed(_label_sources(ds.name)):      # earlier sources win
        known.update(zip(meta["name"], zip(meta["label"], meta["type"])))
    extra = define_config().get("labels", {})
    kind = adam_structure(ds.name) if ds.name.startswith("AD") else None
    cols = []
    for var in ds.frame.columns:
        entry = adam_standard_variable(var, kind) if kind else None
        label, vtype = (entry["label"], entry["type"]) if entry else known.get(var, (None, None))
        label = label or extra.get(var) or var
        vtype = vtype if vtype in ("Num", "Char") else ("Num" if pd.api.types.is_numeric_dtype(ds.frame[var]) else "Char")
        fmt = "DATE9." if ds.name.startswith("AD") and var.endswith("DT") and vtype == "Num" else None
        cols.append(ColumnMeta(var, label, vtype, None, fmt))
    try:
        label = sdtm_dataset_label(ds.name)
    except KeyError:
        label = adam_datasets().get(ds.name, {}).get("label", ds.label or ds.name)
    return Dataset(ds.name, label, ds.frame, cols, ds.source)


def export_folder(data_dir: Path, out: Path, formats: tuple[str, ...] = FORMATS, when: dt.datetime | None = None,
                  specs=None, define: Path | None = None, prefer: tuple[str, ...] = ("xpt", "json", "csv"),
                  unwritable: list[str] | None = None, datasets: dict[str, Dataset] | None = None,
                  coding: dict[str, str] | None = None) -> list[Path]:
    """Write every dataset of a folder as XPT / Dataset-JSON / NDJSON plus define.xml into `out` (`coding`:
    domain -> the MedDRA version its terms were coded with, named in define.xml).

    With `define` (an existing Define-XML), Dataset-JSON item metadata and study OIDs come from it and no
    define.xml is written; otherwise our own define.xml is built from the same metadata. A dataset whose
    text XPT v5 cannot hold gets no .xpt (an old one is removed) but every other file; the problem, with the
    records, goes to `unwritable`, or IncompleteOutput is raised once everything else is written. `datasets`, the
    folder's datasets already read (as read_folder gives them), spares reading them again."""
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise InputError(f"unknown export format '{bad[0]}' (valid: {', '.join(FORMATS)})")
    when = when or dt.datetime(2000, 1, 1)
    data = {k: describe(v) for k, v in (datasets if datasets is not None else read_folder(data_dir, prefer=prefer)).items()}
    standard = "ADaM" if all(k.startswith("AD") for k in data) else "SDTM"
    study = load_study()["studyid"]
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S")
    header = {"created": stamp, "modified": stamp, "fileOID": f"{study}.{standard}", "version": __version__,
              "studyOID": study, "metaDataVersionOID": f"MDV.{study}.{'SDTMIG.3.4' if standard == 'SDTM' else 'ADaMIG.1.3'}",
              "originator": "cdisc-il2"}
    items: dict[str, dict] = {}
    if define is not None:
        from ..formats.define_read import read_define

        d = read_define(define)
        header.update({"studyOID": d["studyOID"], "metaDataVersionOID": d["metaDataVersionOID"], "fileOID": d["fileOID"]})
        items = d["datasets"]
        data = {k: Dataset(v.name, d["labels"].get(k) or v.label, v.frame, v.columns, v.source) for k, v in data.items()}
    out = Path(out)
    written = []
    problems: list[str] = []
    for name, ds in data.items():
        base = out / name.lower()
        if "xpt" in formats:
            unfit = unfit_values(ds)
            if len(unfit):
                base.with_suffix(".xpt").unlink(missing_ok=True)
                problems.append(_unfit_message(name, unfit))
            else:
                try:
                    write_xpt(ds, base.with_suffix(".xpt"), when)
                    written.append(base.with_suffix(".xpt"))
                except XptValueError as exc:
                    base.with_suffix(".xpt").unlink(missing_ok=True)
                    problems.append(f"{name.lower()}.xpt: {exc}")
        if {"json", "ndjson"} & set(formats):      # the columns and their values made once for both files
            columns = column_definitions(ds, items.get(name))
            values = value_frame(ds.frame, columns)
        if "json" in formats:
            write_dataset_json(ds, base.with_suffix(".json"), header, items.get(name), columns=columns, values=values)
            written.append(base.with_suffix(".json"))
        if "ndjson" in formats:
            write_dataset_json(ds, base.with_suffix(".ndjson"), header, items.get(name), ndjson=True, columns=columns,
                               values=values)
            written.append(base.with_suffix(".ndjson"))
        values = None
    if define is None:
        xml = build_define(data, standard, specs, stamp, ".xpt" if "xpt" in formats else ".json", coding=coding)
        write_define(out / "define.xml", xml)
        written.append(out / "define.xml")
    if problems:
        if unwritable is None:
            raise IncompleteOutput(problems)
        unwritable.extend(problems)
    return written


def _unfit_message(name: str, unfit: pd.DataFrame) -> str:
    """One line naming the XPT file not written and the records that prevent it."""
    shown = unfit.head(5)
    records = "; ".join(f"{r.variable} record {r.record}" + (f" ({r.USUBJID})" if isinstance(r.USUBJID, str) else "")
                        + f" '{r.value}' ({r.reason})" for r in shown.itertuples())
    more = f" and {len(unfit) - len(shown)} more" if len(unfit) > len(shown) else ""
    return (f"{name.lower()}.xpt not written: SAS XPT v5 cannot hold {records}{more} "
            "(the Dataset-JSON files have every record)")
