"""OUT/report.html: one self-contained page per run (no network, no CDN): transfer summary, accountability,
findings by dataset and rule with filtering and drill-down, triage, the comparison with the previous transfer,
and plots as inline SVG. Every value from the data is escaped: no markup or script from a cell reaches the page."""
from __future__ import annotations

import html
import io
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from .. import __version__
from ..io import write_text
from ..keys import record_label as _record_label

DETAIL_LIMIT = 200          # finding rows shown per rule (all are in validation/findings.json)
CHANGE_LIMIT = 500          # changed values shown (all are in comparison/changes.csv)
REPORT_COLUMNS = {"ADQS": ("USUBJID", "PARAMCD", "AVISITN", "AVAL", "ANL01FL"),     # what the plots read
                  "ADLB": ("PARAMCD", "PARAM", "AVISITN", "AVAL", "AVALU", "ANL01FL")}
LAB_PLOTS = [("DDNAIGAB", "Anti-dsDNA"), ("C3", "Complement C3"), ("C4", "Complement C4"),
             ("PROTEXR", "24-h urine protein"), ("TREGCD4", "Treg (% of CD4+)")]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#1F4E78;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;font-size:13px;opacity:.9}
nav{background:#e8eef5;padding:6px 24px;font-size:14px}nav a{margin-right:14px;color:#1F4E78}
section{background:#fff;margin:14px 24px;padding:12px 18px;border:1px solid #ddd;border-radius:6px}
h2{font-size:18px;margin:4px 0 10px;color:#1F4E78}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#1F4E78;color:#fff;position:sticky;top:0}
td.num{text-align:right}.Error{background:#F8CBAD}.Warning{background:#FFE699}.Notice{background:#DDEBF7}
.alert{color:#9c0006;font-weight:600}.ok{color:#006100}.muted{color:#666}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #ccd;border-radius:6px;padding:8px 12px;min-width:120px;background:#f5f8fc}
.card b{display:block;font-size:20px}.plots{display:flex;flex-wrap:wrap;gap:12px}.plots figure{margin:0}
details{margin:2px 0}summary{cursor:pointer}input[type=search]{padding:4px 8px;width:320px}
tr.primary td{font-weight:700;background:#E2EFDA}
ul.lines{list-style:none;padding-left:0;margin:4px 0}ul.lines li{margin:2px 0}
"""

SCRIPT = """
function filterTable(inputId, tableId, selectId){
  var q=document.getElementById(inputId).value.toLowerCase();
  var sev=selectId?document.getElementById(selectId).value:'';
  var rows=document.getElementById(tableId).tBodies[0].rows;var shown=0;
  for(var i=0;i<rows.length;i++){var r=rows[i];var t=r.textContent.toLowerCase();
    var ok=(!q||t.indexOf(q)>=0)&&(!sev||r.getAttribute('data-severity')===sev);
    r.style.display=ok?'':'none';if(ok)shown++;}
  var c=document.getElementById(tableId+'-count');if(c)c.textContent=shown;
}
"""


def esc(value: object) -> str:
    """Text from the data, escaped for HTML (quotes too): never markup."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    return html.escape(str(value), quote=True)


def table(frame: pd.DataFrame, table_id: str | None = None, numeric: set[str] | None = None,
          row_attrs: pd.Series | None = None, row_class: pd.Series | None = None) -> str:
    """An HTML table of a frame, every cell escaped."""
    numeric = numeric or set()
    head = "".join(f"<th>{esc(c)}</th>" for c in frame.columns)
    cols = list(frame.columns)
    body = []
    values = frame.astype(object).where(frame.notna(), None).to_numpy()
    attrs = row_attrs.tolist() if row_attrs is not None else [""] * len(frame)
    classes = row_class.tolist() if row_class is not None else [""] * len(frame)
    for row, attr, cls in zip(values, attrs, classes):
        cells = "".join(f'<td class="num">{esc(v)}</td>' if c in numeric else f"<td>{esc(v)}</td>"
                        for c, v in zip(cols, row))
        body.append(f'<tr{attr}{f" class={chr(34)}{esc(cls)}{chr(34)}" if cls else ""}>{cells}</tr>')
    tid = f' id="{esc(table_id)}"' if table_id else ""
    return f"<table{tid}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class RunFiles:
    """The files of a run folder the report reads, by path relative to it ('adam/adqs.csv'): a CSV as text
    (pd.read_csv with dtype="string", keep_default_na=False), a JSON document. What the run hands over in
    `given` (CSVs as io.text_frame, documents as the dicts written) is taken from there, not read back."""

    def __init__(self, out: Path, given: Mapping[str, object] | None = None) -> None:
        self.out, self.given = Path(out), dict(given or {})

    def csv(self, name: str) -> pd.DataFrame | None:
        """A CSV of the run as text, None when the run has none."""
        if name in self.given:
            return self.given[name]                                  # type: ignore[return-value]
        path = self.out / name
        return pd.read_csv(path, dtype="string", keep_default_na=False) if path.is_file() else None

    def json(self, name: str) -> dict | None:
        """A JSON document of the run, None when the run has none."""
        if name in self.given:
            return self.given[name]                                  # type: ignore[return-value]
        path = self.out / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _svg(fig) -> str:
    """A matplotlib figure as inline SVG, deterministic (fixed hash salt, no date)."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _visit_ticks(ax, weeks: pd.Series) -> None:
    """X ticks on the analysis visits present in the data (AVISITN, the study week), not matplotlib's own."""
    values = sorted(set(pd.to_numeric(weeks, errors="coerce").dropna()))
    ax.set_xticks(values, [f"{v:g}" for v in values], fontsize=7)


def _unit(param: object) -> str:
    """The unit a PARAM ends with in parentheses ('Complement C3 (g/L)' -> 'g/L'), else ''."""
    text = str(param or "").strip()
    return text[text.rindex("(") + 1:-1].strip() if text.endswith(")") and "(" in text else ""


def _plots(files: RunFiles) -> str:
    """SRI-4 by visit with CIs and the primary endpoint, SLEDAI-2K per subject, labs and Treg over time."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "cdisc-il2"
    plt.rcParams["svg.fonttype"] = "none"
    figs = []
    summary = files.csv("adam/sri_summary.csv")
    if summary is not None and len(summary):
        s = summary.copy()
        for c in ("AVISITN", "rate", "ci95_low", "ci95_high", "N", "responders"):
            s[c] = pd.to_numeric(s[c])
        fig, ax = plt.subplots(figsize=(6, 3.4))
        ax.errorbar(s["AVISITN"], s["rate"] * 100, yerr=[(s["rate"] - s["ci95_low"]) * 100,
                                                        (s["ci95_high"] - s["rate"]) * 100],
                    fmt="o-", capsize=4, color="#1F4E78")
        prim = s[s.get("primary_endpoint", pd.Series("N", index=s.index)) == "Y"]
        if len(prim):
            ax.plot(prim["AVISITN"], prim["rate"] * 100, marker="*", markersize=15, color="#C00000", linestyle="",
                    label=f"primary endpoint ({prim['AVISIT'].iloc[0]})")
            ax.legend(loc="lower right", fontsize=8)
        ax.set_xticks(s["AVISITN"], s["AVISIT"], fontsize=7)
        ax.set_ylim(0, 105)
        ax.set_ylabel("SRI-4 responders (%)")
        ax.set_title("SRI-4 response by visit (95% Wilson CI)", fontsize=10)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        figs.append(("SRI-4 response rate", _svg(fig)))
    adqs = files.csv("adam/adqs.csv")
    if adqs is not None and len(adqs):
        q = adqs[(adqs["PARAMCD"] == "SLEDTOT") & (adqs["ANL01FL"] == "Y")].copy()
        q["AVISITN"], q["AVAL"] = pd.to_numeric(q["AVISITN"]), pd.to_numeric(q["AVAL"])
        fig, ax = plt.subplots(figsize=(6, 3.4))
        for _, g in q.sort_values("AVISITN").groupby("USUBJID"):
            ax.plot(g["AVISITN"], g["AVAL"], color="grey", alpha=0.35, linewidth=0.8)
        med = q.groupby("AVISITN")["AVAL"].median()
        ax.plot(med.index, med.values, color="#C00000", linewidth=2.2, marker="o", label="median")
        _visit_ticks(ax, q["AVISITN"])
        ax.set_xlabel("analysis visit (week)")
        ax.set_ylabel("SLEDAI-2K total")
        ax.set_title("SLEDAI-2K per subject", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        figs.append(("SLEDAI-2K per subject", _svg(fig)))
    adlb = files.csv("adam/adlb.csv")
    if adlb is not None and len(adlb):
        lb = adlb[adlb["ANL01FL"] == "Y"].copy()
        lb["AVISITN"], lb["AVAL"] = pd.to_numeric(lb["AVISITN"]), pd.to_numeric(lb["AVAL"])
        for code, title in LAB_PLOTS:
            sel = lb[lb["PARAMCD"] == code]
            if sel.empty:
                continue
            stats = sel.groupby("AVISITN")["AVAL"].quantile([0.25, 0.5, 0.75]).unstack()
            fig, ax = plt.subplots(figsize=(4.2, 2.9))
            ax.fill_between(stats.index, stats[0.25], stats[0.75], color="#9DC3E6", alpha=0.6, label="quartiles")
            ax.plot(stats.index, stats[0.5], color="#1F4E78", marker="o", label="median")
            unit = _unit(sel["PARAM"].iloc[0])
            if not unit and "AVALU" in sel:
                unit = str(sel["AVALU"].iloc[0] or "")
            ax.set_title(f"{title} ({unit})" if unit and not title.endswith(")") else title, fontsize=9)
            _visit_ticks(ax, sel["AVISITN"])
            ax.set_xlabel("analysis visit (week)", fontsize=8)
            ax.set_ylabel(f"result ({unit})" if unit else "result", fontsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
            fig.tight_layout()
            figs.append((title, _svg(fig)))
    if not figs:
        return "<p class='muted'>No ADaM datasets in this run: no plots.</p>"
    return "<div class='plots'>" + "".join(f"<figure aria-label='{esc(t)}'>{svg}</figure>" for t, svg in figs) + "</div>"


def _findings_section(files: RunFiles) -> tuple[str, dict]:
    """Findings by domain and rule, errors first then by count, filterable, each line's records in a drill-down."""
    parts, totals = [], {}
    for label, name in (("SDTM", "findings.json"), ("ADaM", "adam-findings.json")):
        doc = files.json(f"validation/{name}")
        if doc is None:
            continue
        f = pd.DataFrame(doc.get("findings", []))
        totals[label] = doc.get("summary", {})
        if f.empty:
            parts.append(f"<h3>{label}</h3><p class='ok'>No findings.</p>")
            continue
        if "triage" not in f:
            f["triage"] = ""
        f["triage"] = f["triage"].fillna("")
        # one line per (domain, rule) as Pinnacle 21 groups them: split datasets under their domain, files named
        domains = {d.get("dataset"): d.get("domain") or d.get("dataset") for d in doc.get("datasets", [])}
        f["domain"] = f["dataset"].map(lambda d: domains.get(d) or d)
        g = f.groupby(["domain", "rule_id", "severity"], sort=False).agg(
            count=("rule_id", "size"), justified=("triage", lambda t: int((t == "justified").sum())),
            files=("dataset", lambda d: ", ".join(sorted(set(map(str, d))))),
            message=("message", "first")).reset_index()
        order = {"Error": 0, "Warning": 1, "Notice": 2}
        g = g.assign(_o=g["severity"].map(order)).sort_values(["_o", "count", "domain", "rule_id"],
                                                               ascending=[True, False, True, True], kind="stable")
        tid = f"findings-{label.lower()}"
        rows = []
        for r in g.itertuples():
            sel = f[(f["domain"] == r.domain) & (f["rule_id"] == r.rule_id) & (f["severity"] == r.severity)]
            # the site's raw cell (file, sheet, row, heading, value) where the finding is on collected data
            optional = ("src_file", "src_sheet", "src_row", "src_heading", "src_raw", "src_variables", "ct", "ct_note")
            cols = [c for c in ("dataset", "usubjid", "variable", "value", "row", "seq", "src_file", "src_sheet",
                                "src_row", "src_heading", "src_raw", "src_variables", "triage", "justification",
                                "message", "ct", "ct_note") if c in sel and (c not in optional or sel[c].notna().any())]
            shown = sel[cols].head(DETAIL_LIMIT)
            for c in ("row", "seq", "src_row"):          # record numbers and sheet rows as counted, not 3.0
                if c in shown:
                    n = pd.to_numeric(shown[c], errors="coerce")
                    if ((n % 1).fillna(0) == 0).all():
                        shown = shown.assign(**{c: n.astype("Int64")})
            detail = table(shown.rename(columns={"src_file": "raw file", "src_sheet": "sheet", "src_row": "sheet row",
                                                 "src_heading": "heading", "src_raw": "raw value",
                                                 "src_variables": "collected as"}))
            more = f"<p class='muted'>first {DETAIL_LIMIT} of {len(sel)}</p>" if len(sel) > DETAIL_LIMIT else ""
            where = r.domain if r.files == r.domain else f"{r.domain} ({r.files})"
            rows.append(f"<tr data-severity='{esc(r.severity)}' class='{esc(r.severity)}'><td>{esc(where)}</td>"
                        f"<td>{esc(r.rule_id)}</td><td>{esc(r.severity)}</td><td class='num'>{r.count}</td>"
                        f"<td class='num'>{r.justified}</td><td><details><summary>{esc(r.message)}</summary>"
                        f"{detail}{more}</details></td></tr>")
        controls = (f"<p><input type='search' id='{tid}-q' placeholder='filter: dataset, rule, subject, text' "
                    f"oninput=\"filterTable('{tid}-q','{tid}','{tid}-s')\"> <select id='{tid}-s' "
                    f"onchange=\"filterTable('{tid}-q','{tid}','{tid}-s')\"><option value=''>all severities</option>"
                    "<option>Error</option><option>Warning</option><option>Notice</option></select> "
                    f"<span id='{tid}-count'>{len(g)}</span> rule lines shown</p>")
        head = "<tr><th>domain (files)</th><th>rule</th><th>severity</th><th>findings</th><th>justified</th><th>message of the first record (click for all)</th></tr>"
        declared = "; ".join(f"{d['set']} CT {d['version']} ({d['source']})" for d in doc.get("ct_declared", []))
        ct_line = (f"<p class='muted'>Terminology checked against {esc('; '.join(doc.get('ct_versions', [])))}"
                   + (f"; the package declares {esc(declared)}" if declared else "") + "</p>")
        parts.append(f"<h3>{label}: {len(f)} findings in {len(g)} rule lines</h3>{ct_line}{controls}"
                     f"<table id='{tid}'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>")
        stale = doc.get("stale_justifications") or []
        if stale:
            parts.append(f"<p class='alert'>{len(stale)} justification(s) match no finding any more:</p>"
                         + table(pd.DataFrame(stale)))
    return "".join(parts) or "<p class='muted'>No validation in this run.</p>", totals


def _visit_order(visit: object) -> tuple:
    """A visit name's sort key: by its number ('WEEK 2' before 'WEEK 10'), names without one first."""
    digits = "".join(ch if ch.isdigit() else " " for ch in str(visit)).split()
    return (float(digits[0]) if digits else -1.0, str(visit))


def _new_subject_lines(counts: pd.DataFrame, changes: pd.DataFrame, raw: pd.DataFrame | None,
                       sri: pd.DataFrame | None) -> str:
    """One line per new subject (records added, per dataset, raw file); its records and SRI-4 behind a click."""
    datasets = [c for c in counts.columns if c not in ("usubjid", "file", "records")]
    added = changes[changes["change"] == "added"]
    if raw is not None and len(raw):
        rec = raw.loc[raw["change"] == "added", ["dataset", "key", "sheet", "row"]].drop_duplicates(["dataset", "key"])
        added = added.merge(rec, on=["dataset", "key"], how="left")
    lines = []
    for r in counts.to_dict("records"):
        per = ", ".join(f"{d} {int(float(r[d]))}" for d in datasets if str(r.get(d) or "0") not in ("0", "0.0", ""))
        mine = added[added["usubjid"] == r["usubjid"]]
        recs = mine.assign(record=[_record_label(k, u) for k, u in zip(mine["key"], mine["usubjid"])])
        detail = table(recs.reindex(columns=["dataset", "record", "sheet", "row"]).fillna(""))
        if sri is not None and len(sri):
            responses = sri[sri["usubjid"] == r["usubjid"]]
            if len(responses):
                by_visit = sorted(zip(responses["avisit"], responses["new"]), key=lambda v: _visit_order(v[0]))
                detail = f"<p>SRI-4: {esc(', '.join(f'{a} {n}' for a, n in by_visit))}</p>" + detail
        source = f"<p>from {esc(r['file'])}</p>" if r.get("file") else ""
        lines.append(f"<li class='subject-line' data-usubjid='{esc(r['usubjid'])}'><details><summary>"
                     f"<b>{esc(r['usubjid'])}</b>: {esc(r['records'])} records ({esc(per)})</summary>"
                     f"{source}{detail}</details></li>")
    return f"<ul id='new-subjects' class='lines'>{''.join(lines)}</ul>"


def _comparison_section(files: RunFiles) -> str:
    """The comparison with the previous transfer, in the order a person reads it: deleted records and vanished
    subjects (red), changed values (old -> new with the raw cell), other added records, then each new subject
    as one line with its record counts (its records behind a click, all in comparison/changes.csv)."""
    summary = files.json("comparison/summary.json")
    if summary is None:
        return "<p class='muted'>No previous transfer given (run with --previous to compare).</p>"
    changes = files.csv("comparison/changes.csv")
    if changes is None:
        changes = pd.DataFrame(columns=["dataset", "change", "usubjid", "key", "variable", "old", "new"])
    subjects = files.csv("comparison/subjects.csv")
    sri = files.csv("comparison/sri.csv")
    findings = files.csv("comparison/findings.csv")
    raw = files.csv("comparison/raw_rows.csv")
    cards = "".join(f"<div class='card'>{esc(k.replace('_', ' '))}<b>{esc(v)}</b></div>" for k, v in summary.items())
    html_parts = [f"<div class='cards' id='comparison-summary'>{cards}</div>"]
    gone = subjects[subjects["change"] == "gone"] if subjects is not None else pd.DataFrame()
    new_ids = set(subjects.loc[subjects["change"] == "added", "usubjid"]) if subjects is not None else set()
    deleted = changes[changes["change"] == "deleted"]
    removed = []
    if len(gone):
        removed.append(f"<p class='alert'>{len(gone)} subject(s) in the previous transfer are gone:</p>"
                       + table(gone, table_id="gone-subjects"))
    if len(deleted):
        d = deleted[["dataset", "usubjid", "key"]].assign(
            record=[_record_label(k, u) for k, u in zip(deleted["key"], deleted["usubjid"])])
        if raw is not None and len(raw):
            rec = raw.loc[raw["change"] == "deleted", ["dataset", "key", "file", "sheet", "row"]].drop_duplicates(["dataset", "key"])
            d = d.merge(rec, on=["dataset", "key"], how="left").fillna("")
        removed.append(f"<p class='alert'>{len(deleted)} record(s) deleted since the previous transfer "
                       "(raw cells of the previous transfer):</p>"
                       + table(d.drop(columns="key")[["dataset", "usubjid", "record", *[c for c in ("file", "sheet", "row") if c in d]]],
                               table_id="deleted-records"))
    html_parts.append("<div id='comparison-removed'>" + ("".join(removed) or
                      "<p class='ok'>No record deleted and no subject gone.</p>") + "</div>")
    values = files.csv("comparison/changed_values.csv")      # written by the same run (transfers.compare)
    values = values if values is not None else pd.DataFrame(columns=["dataset", "usubjid", "key", "variable"])
    if len(values):
        v = values.fillna("")
        shown = pd.DataFrame({"dataset": v["dataset"], "usubjid": v["usubjid"],
                              "record": [_record_label(k, u) for k, u in zip(v["key"], v["usubjid"])],
                              "variable": v["variable"], "old \u2192 new": v["old"] + " \u2192 " + v["new"],
                              "file": v["file"], "sheet": v["sheet"], "row": v["row"], "column": v["column"],
                              "raw cell": v["raw"]})
        records = v.drop_duplicates(["dataset", "key"])
        more = (f"<p class='muted'>first {CHANGE_LIMIT} of {len(v)} (all in comparison/changed_values.csv)</p>"
                if len(v) > CHANGE_LIMIT else "")
        html_parts.append(f"<h3 id='changed-values-head'>Values changed: {len(v)} in {len(records)} record(s) "
                          "(old \u2192 new; the raw cell where the value was collected, empty where derived)</h3>"
                          + table(shown.head(CHANGE_LIMIT), table_id="changed-values") + more)
    else:
        html_parts.append("<p class='ok' id='changed-values-head'>No value changed.</p>")
    others = changes[(changes["change"] == "added") & ~changes["usubjid"].isin(new_ids)]
    if len(others):
        o = others[["dataset", "usubjid", "key"]]
        if raw is not None and len(raw):
            rec = raw.loc[raw["change"] == "added", ["dataset", "key", "file", "sheet", "row"]].drop_duplicates(["dataset", "key"])
            o = o.merge(rec, on=["dataset", "key"], how="left").fillna("")
        html_parts.append(f"<details id='added-records'{' open' if len(o) <= 20 else ''}><summary><b>{len(o)} record(s) "
                          "added to subjects already in the study or trial level</b> (all in comparison/changes.csv)"
                          f"</summary>{table(o.head(CHANGE_LIMIT))}</details>")
    counts = files.csv("comparison/new_subjects.csv")
    counts = counts if counts is not None else pd.DataFrame(columns=["usubjid", "file", "records"])
    if len(counts):
        html_parts.append(f"<h3 id='new-subjects-head'>{len(counts)} new subject(s): one line each, the records behind "
                          "a click (all in comparison/changes.csv and new_subjects.csv)</h3>"
                          + _new_subject_lines(counts, changes, raw, sri))
    if sri is not None and len(sri):
        known = sri[~sri["usubjid"].isin(new_ids)]
        if len(known):
            html_parts.append("<h3>SRI-4 responses that changed</h3>" + table(known, table_id="sri-changes"))
    if findings is not None and len(findings):
        new = findings[findings["status"] != "persisting"]
        if len(new):
            n = new.assign(count=pd.to_numeric(new["count"]))
            lines = (n.groupby(["status", "dataset", "rule_id", "severity"], sort=True)
                     .agg(findings=("count", "sum")).reset_index())
            html_parts.append(f"<h3>Findings new and resolved: {int(n['count'].sum())} in {len(lines)} rule lines "
                              f"(new {int(n.loc[n['status'] == 'new', 'count'].sum())}, resolved "
                              f"{int(n.loc[n['status'] == 'resolved', 'count'].sum())})</h3>"
                              + table(lines, table_id="findings-changed", numeric={"findings"})
                              + "<details><summary>each finding new or resolved (all in comparison/findings.csv)"
                              f"</summary>{table(new.head(CHANGE_LIMIT))}</details>")
    return "".join(html_parts)


def build_report(out: Path, given: Mapping[str, object] | None = None) -> str:
    """The HTML text of the report of a run folder; `given` (RunFiles: files of the run by relative path, as the
    run has them in memory) spares reading those back."""
    files = RunFiles(out, given)
    manifest = files.json("manifest.json") or {}
    acc = files.csv("accountability.csv")
    summary = files.csv("adam/sri_summary.csv")
    findings_html, totals = _findings_section(files)
    datasets = pd.DataFrame([{"dataset": o["path"], "records": o.get("records")} for o in manifest.get("outputs", [])
                             if o["path"].endswith(".csv") and o["path"].split("/")[0] in ("sdtm", "adam")
                             and o.get("records") is not None])
    cards = []
    for label, t in totals.items():
        cards.append(f"<div class='card'>{esc(label)} errors<b>{esc(t.get('errors', 0))}</b></div>")
        cards.append(f"<div class='card'>{esc(label)} warnings<b>{esc(t.get('warnings', 0))}</b></div>")
    if summary is not None and len(summary) and "primary_endpoint" in summary:
        p = summary[summary["primary_endpoint"] == "Y"]
        if len(p):
            cards.append(f"<div class='card'>SRI-4 {esc(p['AVISIT'].iloc[0])} (primary)<b>"
                         f"{esc(p['responders'].iloc[0])}/{esc(p['N'].iloc[0])}</b></div>")
    coded = files.json("coding.json") or {}
    queries = files.csv("coding_queries.csv") if coded else None
    for domain, what, dictionary in (("AE", "AE terms", "sponsor synonym list; no MedDRA release"),
                                     ("CM", "medications", "sponsor medication list; no WHODrug release")):
        if coded.get(domain):
            n_q = 0 if queries is None else int(queries["domain"].astype(str).eq(domain).sum()
                                                if "domain" in queries else len(queries))
            cards.append(f"<div class='card{' alert' if n_q else ''}'>{domain} coded with {esc(coded[domain])}: "
                         f"coding queries<b>{n_q}</b></div>")
        elif acc is not None:
            cards.append(f"<div class='card alert'>{what}<b>uncoded</b>({dictionary})</div>")
    if manifest.get("incomplete"):
        cards.append(f"<div class='card alert'>files not written<b>{len(manifest['incomplete'])}</b></div>")
    sri_table = ""
    if summary is not None and len(summary):
        cols = [c for c in ("AVISIT", "N", "responders", "imputed_nonresponders", "rate", "ci95_low", "ci95_high",
                            "primary_endpoint") if c in summary]
        sri_table = "<h3>SRI-4 by visit</h3>" + table(summary[cols], table_id="sri-summary",
                                                       numeric={"N", "responders", "rate"},
                                                       row_class=summary.get("primary_endpoint").map({"Y": "primary"}).fillna("")
                                                       if "primary_endpoint" in summary else None)
    acc_html = "<p class='muted'>No accountability (not a run folder).</p>"
    if acc is not None:
        unread = acc["note"].fillna("").str.contains("not read|no mapping spec|sent nothing")
        acc_html = ((f"<p class='alert'>{int(unread.sum())} sheet(s) or file(s) not read: see the notes.</p>" if unread.any() else
                     "<p class='ok'>Every sheet of every workbook was read by a spec block.</p>")
                    + table(acc, table_id="accountability",
                            numeric={"rows_read", "rows_mapped", "rows_rejected", "records_out"}))
    incomplete = "".join(f"<li class='alert'>{esc(p)}</li>" for p in manifest.get("incomplete", []))
    body = f"""
<header><h1>cdisc-il2 run report: {esc(manifest.get('tool', 'cdisc-il2'))} {esc(manifest.get('version', __version__))}</h1>
<p>transfer time {esc(manifest.get('transfer_time', ''))}; inputs: {esc(', '.join(i['file'] for i in manifest.get('inputs', [])))}</p></header>
<nav><a href="#summary">Summary</a><a href="#comparison">Comparison</a><a href="#findings">Findings</a>
<a href="#accountability">Accountability</a><a href="#plots">Plots</a></nav>
<section id="summary"><h2>Transfer summary</h2><div class="cards">{''.join(cards)}</div>
{f'<ul>{incomplete}</ul>' if incomplete else ''}{sri_table}
<details><summary>Datasets written ({len(datasets)})</summary>{table(datasets, numeric={'records'})}</details></section>
<section id="comparison"><h2>Comparison with the previous transfer</h2>{_comparison_section(files)}</section>
<section id="findings"><h2>Validation findings</h2>{findings_html}</section>
<section id="accountability"><h2>Accountability of the raw data</h2>{acc_html}</section>
<section id="plots"><h2>Plots</h2>{_plots(files)}</section>
"""
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; "
            f"script-src 'unsafe-inline'; img-src data:\">"
            f"<title>cdisc-il2 report</title><style>{CSS}</style><script>{SCRIPT}</script></head>"
            f"<body>{body}</body></html>\n")


def write_report(out: Path, given: Mapping[str, object] | None = None) -> Path:
    """Write OUT/report.html atomically (`given`: as build_report)."""
    path = Path(out) / "report.html"
    write_text(path, build_report(out, given))
    return path
