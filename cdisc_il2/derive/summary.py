"""Results a person looks at: SRI-4 response rate by visit with a 95% confidence interval, and plots."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import write_bytes

Z95 = 1.959963984540054


def wilson_interval(responders: pd.Series, n: pd.Series, z: float = Z95) -> tuple[pd.Series, pd.Series]:
    """Wilson score 95% confidence interval for a proportion (well behaved near 0 and 1, unlike Wald)."""
    p = responders / n
    denom = 1 + z ** 2 / n
    centre = (p + z ** 2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z ** 2 / (4 * n ** 2)) / denom
    return (centre - half).clip(lower=0), (centre + half).clip(upper=1)


def sri_summary(adrs: pd.DataFrame, analysis_set: str = "MITTFL") -> pd.DataFrame:
    """Per analysis visit: subjects in the SRI's analysis set (N), SRI-4 responders, how many subjects were
    imputed as non-responders, the rate and its Wilson 95% CI, and which row is the primary endpoint."""
    flag = analysis_set if analysis_set in adrs else "FASFL"
    sri = adrs[(adrs["PARAMCD"] == "SRI4") & (adrs[flag] == "Y")]
    g = sri.groupby(["AVISITN", "AVISIT"], sort=True)
    out = g.agg(N=("USUBJID", "nunique"), responders=("AVALC", lambda s: int((s == "Y").sum())),
                imputed_nonresponders=("DTYPE", lambda s: int(s.notna().sum()))).reset_index()
    out["rate"] = (out["responders"] / out["N"]).round(4)
    lo, hi = wilson_interval(out["responders"].astype(float), out["N"].astype(float))
    out["ci95_low"], out["ci95_high"] = lo.round(4), hi.round(4)
    out["analysis_set"] = flag
    out["method"] = "Wilson score interval; non-responder imputation (DTYPE=WC)"
    primary = set(sri.loc[sri.get("ANL02FL", pd.Series(dtype="string")).eq("Y"), "AVISIT"]) if "ANL02FL" in sri else set()
    out["primary_endpoint"] = np.where(out["AVISIT"].isin(primary), "Y", "N")
    return out


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def plot_sri(summary: pd.DataFrame, path: Path) -> None:
    """SRI-4 response rate by analysis visit with 95% CI."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    x = summary["AVISITN"]
    ax.errorbar(x, summary["rate"] * 100, yerr=[(summary["rate"] - summary["ci95_low"]) * 100,
                                                (summary["ci95_high"] - summary["rate"]) * 100],
                fmt="o-", capsize=4, color="#1F4E78")
    for xi, r, n, k in zip(x, summary["rate"], summary["N"], summary["responders"]):
        ax.annotate(f"{k}/{n}", (xi, r * 100), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    if "primary_endpoint" in summary:
        prim = summary[summary["primary_endpoint"].eq("Y")]
        for xi, r in zip(prim["AVISITN"], prim["rate"]):
            ax.axvline(xi, color="#C00000", linestyle="--", linewidth=1, alpha=0.7)
            ax.plot([xi], [r * 100], marker="*", markersize=14, color="#C00000", zorder=5,
                    label="primary endpoint (" + str(prim["AVISIT"].iloc[0]) + ")")
        if len(prim):
            ax.legend(loc="lower right", fontsize=8)
    ax.set_xticks(x, summary["AVISIT"], rotation=0, fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("SRI-4 responders (%)")
    ax.set_title("SRI-4 response by analysis visit (all treated subjects, NRI; 95% Wilson CI)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_bytes(path, _png(fig))
    plt.close(fig)


def plot_sledai(adqs: pd.DataFrame, path: Path) -> None:
    """SLEDAI-2K total over analysis visits, one line per subject, with the median."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = adqs[(adqs["PARAMCD"] == "SLEDTOT") & (adqs["ANL01FL"] == "Y")]
    fig, ax = plt.subplots(figsize=(7, 4))
    # each subject's line in visit order: one sort, then slices (a sort per subject took most of the time)
    ordered = s[s["USUBJID"].notna()].sort_values(["USUBJID", "AVISITN"], kind="stable")   # groupby's subjects
    x, y = ordered["AVISITN"].to_numpy(), ordered["AVAL"].to_numpy()
    starts = np.flatnonzero(~ordered["USUBJID"].duplicated().to_numpy())
    for a, b in zip(starts, [*starts[1:], len(ordered)]):
        ax.plot(x[a:b], y[a:b], color="grey", alpha=0.35, linewidth=0.8)
    med = s.groupby("AVISITN")["AVAL"].median()
    ax.plot(med.index, med.values, color="#C00000", linewidth=2.5, marker="o", label="median")
    weeks = sorted(set(pd.to_numeric(s["AVISITN"], errors="coerce").dropna()))   # the visits of the data
    ax.set_xticks(weeks, [f"{w:g}" for w in weeks])
    ax.set_xlabel("analysis visit (week)")
    ax.set_ylabel("SLEDAI-2K total")
    ax.set_title("SLEDAI-2K over time per subject")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    write_bytes(path, _png(fig))
    plt.close(fig)
