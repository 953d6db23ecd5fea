"""Seeded generator of realistic raw site spreadsheets for the low-dose IL-2 SLE trial.

Two sites with different layouts, date styles, spellings and units. The clinical course is
decided first (intended SRI-4 responders, dropouts, injection-site reactions) and the data are
built to match it; the intent is written to `generator-truth.json` so that tests of the
derivations compare with what was meant, not with what our own code computes. Deliberate data
problems are injected and listed in `generator-truth.json` under "problems".

Concomitant medications (glucocorticoids, hydroxychloroquine, immunosuppressants) are drawn from a second
random generator seeded from the same seed, so the other sheets stay as they were; three subjects meet a
rescue-therapy rule, recorded per subject under "rescue" in the truth file.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from openpyxl import Workbook
from openpyxl.styles import Font

from .io import save_workbook, set_text_cell, write_text
from .resources import load_study

EXCEL_EPOCH = dt.date(1899, 12, 30)
FILE_TIME = dt.datetime(2015, 6, 30, 12, 0, 0)
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]

# Lab generation: (low, high) normal range in the standard unit, and the abnormal value drawn
# when the linked SLEDAI-2K descriptor is present.
LAB_RANGES = {
    "DDNAIGAB": (0.0, 100.0), "C3": (0.9, 1.8), "C4": (0.1, 0.4), "PROTEXR": (0.0, 0.15),
    "WBC": (3.5, 9.5), "LYM": (1.1, 3.2), "PLAT": (125.0, 350.0), "HGB": (115.0, 150.0),
    "CREAT": (45.0, 84.0), "TREGCD4": (5.0, 10.0),
}
SITE1_TEST_NAMES = {
    "DDNAIGAB": "Anti-dsDNA", "C3": "Complement C3", "C4": "Complement C4", "PROTEXR": "24h urine protein",
    "WBC": "WBC", "LYM": "Lymphocytes", "PLAT": "Platelets", "HGB": "Hemoglobin", "CREAT": "Creatinine",
    "TREGCD4": "Treg (% of CD4+)",
}
SITE1_UNITS = {"DDNAIGAB": "IU/mL", "C3": "g/L", "C4": "g/L", "PROTEXR": "g/24h", "WBC": "10^9/L",
               "LYM": "10^9/L", "PLAT": "10^9/L", "HGB": "g/L", "CREAT": "umol/L", "TREGCD4": "%"}
# Site 02 wide lab columns: heading, test, factor from the standard unit to the site's unit, decimals.
SITE2_LAB_COLUMNS = [
    ("dsDNA (IU/mL)", "DDNAIGAB", 1.0, 0), ("C3 (mg/dL)", "C3", 100.0, 0), ("C4 (mg/dL)", "C4", 100.0, 1),
    ("Urine protein (mg/24h)", "PROTEXR", 1000.0, 0), ("WBC (10^3/uL)", "WBC", 1.0, 2),
    ("LYM (10^3/uL)", "LYM", 1.0, 2), ("PLT (10^3/uL)", "PLAT", 1.0, 0), ("Hb (g/dL)", "HGB", 0.1, 1),
    ("Cr (mg/dL)", "CREAT", 1 / 88.42, 2), ("Treg (%)", "TREGCD4", 1.0, 1),
]
SLEDAI_HEADINGS = [
    "Seizure", "Psychosis", "Organic brain syndrome", "Visual disturbance", "Cranial nerve disorder",
    "Lupus headache", "CVA", "Vasculitis", "Arthritis", "Myositis", "Urinary casts", "Hematuria",
    "Proteinuria", "Pyuria", "Rash", "Alopecia", "Mucosal ulcers", "Pleurisy", "Pericarditis",
    "Low complement", "Increased DNA binding", "Fever", "Thrombocytopenia", "Leukopenia",
]
VS_TESTS = ["WEIGHT", "SYSBP", "DIABP", "PULSE", "TEMP"]        # the order of the vital signs columns
BILAG_DOMAINS = ["Constitutional", "Mucocutaneous", "Neuropsychiatric", "Musculoskeletal", "Cardiorespiratory",
                 "Gastrointestinal", "Ophthalmic", "Renal", "Haematological"]
# Item index (0-based) -> lab rule used to draw consistent lab values.
LAB_ITEMS = {12: "PROTEXR", 19: "COMPLEMENT", 20: "DDNAIGAB", 22: "PLAT", 23: "WBC"}
CLINICAL_BASELINE_P = {8: 0.55, 14: 0.6, 15: 0.4, 16: 0.3, 21: 0.2, 7: 0.08, 17: 0.1, 9: 0.05, 11: 0.15, 13: 0.1}
LAB_BASELINE_P = {19: 0.8, 20: 0.8, 12: 0.4, 22: 0.15, 23: 0.25}
RESPONDER_ACTIVITY = {3: 0.8, 4: 0.6, 5: 0.4, 6: 0.35, 7: 0.3, 8: 0.3, 9: 0.35}
OTHER_AES = [("Upper respiratory tract infection", "URTI"), ("Headache", "headache"), ("Fatigue", "tiredness"),
             ("Pyrexia", "fever"), ("Nausea", "nausea"), ("Arthralgia", "joint pain")]
ISR_VERBATIM = {"01": ["Injection site erythema", "Redness at injection site", "Injection site pain"],
                "02": ["injection site reaction", "local reaction at injection site", "inj. site swelling"],
                "03": ["注射部位红斑", "注射部位疼痛", "注射部位反应"]}


# Why a subject who leaves early leaves (the NCOMPLT term meant), and how each site writes it.
SITE1_REASON = {"LACK OF EFFICACY": "Lack of efficacy", "WITHDRAWAL BY SUBJECT": "Moved away"}
SITE2_STATUS = {"LACK OF EFFICACY": "Withdrawn - no improvement", "WITHDRAWAL BY SUBJECT": "Withdrawn - moved"}
SITE3_REASON = {"LACK OF EFFICACY": "疗效不佳", "WITHDRAWAL BY SUBJECT": "患者要求退出（搬迁）"}
# Site 03 (Chinese hospital export): headings, terms and spellings in Chinese.
SITE3_LAB_COLUMNS = [
    ("抗dsDNA抗体 (IU/mL)", "DDNAIGAB", 1), ("补体C3 (g/L)", "C3", 2), ("补体C4 (g/L)", "C4", 3),
    ("24小时尿蛋白 (g/24h)", "PROTEXR", 2), ("白细胞 (10^9/L)", "WBC", 2), ("淋巴细胞 (10^9/L)", "LYM", 2),
    ("血小板 (10^9/L)", "PLAT", 0), ("血红蛋白 (g/L)", "HGB", 0), ("肌酐 (umol/L)", "CREAT", 0),
    ("调节性T细胞 (%)", "TREGCD4", 1),
]
SITE3_SLEDAI = ["癫痫发作", "精神症状", "器质性脑病", "视觉障碍", "脑神经病变", "狼疮性头痛", "脑血管意外", "血管炎",
                "关节炎", "肌炎", "管型尿", "血尿", "蛋白尿", "脓尿", "新发皮疹", "脱发", "黏膜溃疡", "胸膜炎",
                "心包炎", "低补体", "抗dsDNA升高", "发热", "血小板减少", "白细胞减少"]
SITE3_BILAG = ["BILAG-全身", "BILAG-皮肤黏膜", "BILAG-神经精神", "BILAG-肌肉骨骼", "BILAG-心肺", "BILAG-消化",
               "BILAG-眼", "BILAG-肾脏", "BILAG-血液"]
SITE3_AES = {"Upper respiratory tract infection": "上呼吸道感染", "Headache": "头痛", "Fatigue": "乏力",
             "Pyrexia": "发热", "Nausea": "恶心", "Arthralgia": "关节痛"}
SITE3_ISR = ISR_VERBATIM["03"]
SITE3_NOT_DONE = "未评估"

# Concomitant medications: how each site writes a drug (variants by site), its regimen, route and indication.
CM_NAMES = {
    "prednisone": {"01": ["Prednisone"], "02": ["Prednisone acetate tab", "PREDNISONE"], "03": ["泼尼松", "醋酸泼尼松片"]},
    "methylprednisolone": {"01": ["Methylprednisolone", "Medrol"], "02": ["Medrol", "Methylprednisolone"],
                           "03": ["甲泼尼龙", "美卓乐"]},
    "hydroxychloroquine": {"01": ["Hydroxychloroquine", "Plaquenil"], "02": ["HCQ", "Plaquenil"],
                           "03": ["羟氯喹", "硫酸羟氯喹片"]},
    "mycophenolate": {"01": ["Mycophenolate mofetil"], "02": ["MMF", "CellCept"], "03": ["吗替麦考酚酯", "骁悉"]},
    "azathioprine": {"01": ["Azathioprine"], "02": ["Imuran", "AZA"], "03": ["硫唑嘌呤"]},
    "methotrexate": {"01": ["Methotrexate"], "02": ["MTX"], "03": ["甲氨蝶呤"]},
    "tacrolimus": {"01": ["Tacrolimus"], "02": ["Prograf"], "03": ["他克莫司"]},
    "leflunomide": {"01": ["Leflunomide"], "02": ["Arava"], "03": ["来氟米特"]},
    "cyclophosphamide": {"01": ["Cyclophosphamide"], "02": ["Endoxan", "CTX"], "03": ["环磷酰胺"]},
    "calcium": {"01": ["Calcium carbonate/vitamin D3"], "02": ["Caltrate D"], "03": ["碳酸钙D3片", "钙尔奇D"]},
}
# Prednisone-equivalent factor (published equivalences: 5 mg prednisone = 4 mg methylprednisolone) and dose steps.
GC_FACTOR = {"prednisone": 1.0, "methylprednisolone": 1.25}
GC_STEPS = {"prednisone": [5.0, 7.5, 10.0, 15.0, 20.0], "methylprednisolone": [4.0, 8.0, 12.0, 16.0]}
# Immunosuppressants taken before the study: (drug, dose mg, frequency).
IS_REGIMENS = [("mycophenolate", 750.0, "BID"), ("mycophenolate", 500.0, "BID"), ("azathioprine", 50.0, "BID"),
               ("methotrexate", 10.0, "EVERY WEEK"), ("tacrolimus", 1.0, "BID"), ("leflunomide", 20.0, "QD")]
CM_FREQ = {"QD": {"01": "Once daily", "02": "qd", "03": "每日一次"},
           "BID": {"01": "Twice daily", "02": "bid", "03": "每日两次"},
           "EVERY WEEK": {"01": "Once weekly", "02": "qw", "03": "每周一次"},
           "EVERY 2 WEEKS": {"01": "Every 2 weeks", "02": "q2w", "03": "每2周一次"},
           "EVERY 4 WEEKS": {"01": "Every 4 weeks", "02": "q4w", "03": "每4周一次"}}
CM_ROUTE = {"ORAL": {"01": "Oral", "02": "p.o.", "03": "口服"}, "INTRAVENOUS": {"01": "IV", "02": "i.v.", "03": "静脉滴注"}}
CM_INDICATION = {"SLE": {"01": "SLE", "03": "系统性红斑狼疮"}, "LN": {"01": "Lupus nephritis", "03": "狼疮性肾炎"},
                 "OP": {"01": "Osteoporosis prophylaxis", "03": "预防骨质疏松"}}


@dataclass
class Medication:
    """One concomitant medication record: a drug at one dose from start to end (None: ongoing)."""

    drug: str
    dose: float
    freq: str
    route: str
    indication: str
    start: dt.date
    end: dt.date | None
    partial_start: bool = False      # the site knows the start month only
    variant: int = 0                 # which of the site's spellings of the drug


@dataclass
class Subject:
    """One synthetic subject: the intent first, then the visits actually attended."""

    site: str
    subjid: str
    kind: str                      # responder | nr_sledai | nr_pga | nr_bilag_a
    last_visit: int                # VISITNUM of the last visit attended (dropouts stop early)
    isr: bool
    sex: str = "F"
    birth: dt.date = dt.date(1980, 1, 1)
    consent: dt.date = dt.date(2014, 3, 1)
    first_dose: dt.date = dt.date(2014, 3, 8)
    visit_dates: dict[int, dt.date] = field(default_factory=dict)
    items: dict[int, np.ndarray] = field(default_factory=dict)      # VISITNUM -> 24 presence flags
    bilag: dict[int, list[str]] = field(default_factory=dict)
    pga: dict[int, float] = field(default_factory=dict)
    labs: dict[int, dict[str, float]] = field(default_factory=dict)  # standard units
    vitals: dict[int, dict[str, float]] = field(default_factory=dict)  # standard units (kg, mmHg, beats/min, C)
    dose_dates: list[tuple[int, dt.date]] = field(default_factory=list)
    meds: list[Medication] = field(default_factory=list)
    rescue: dict | None = None                                        # the rescue rule the subject meets


def _weights() -> np.ndarray:
    tests = load_study()["questionnaires"]["SLEDAI-2K"]["tests"]
    return np.array([t["weight"] for k, t in tests.items() if t["kind"] == "weighted"])


def _plan_subjects(n: int, rng: np.random.Generator) -> list[Subject]:
    """Decide sites, responder kinds, dropouts and injection-site reactions for n subjects."""
    n1 = (n * 3 + 4) // 5
    n_nr = max(1, round(n * 0.1)) if n >= 4 else 0
    kinds = ["responder"] * n
    nr_kinds = ["nr_sledai", "nr_pga", "nr_sledai", "nr_bilag_a"]
    nr_idx = sorted(rng.choice(np.arange(1, n), size=n_nr, replace=False).tolist()) if n_nr else []
    for j, i in enumerate(nr_idx):
        kinds[i] = nr_kinds[j % len(nr_kinds)]
    last = [9] * n
    nr_sledai = [i for i in nr_idx if kinds[i] == "nr_sledai"]
    if nr_sledai:
        last[nr_sledai[-1]] = 4            # non-responder who withdraws after week 4
    responders = [i for i in range(n) if kinds[i] == "responder"]
    if len(responders) > 3:
        last[responders[len(responders) // 2]] = 6   # responder who withdraws after week 8
    n_isr = round(n * 0.125)
    isr = set(rng.choice(np.arange(n), size=n_isr, replace=False).tolist()) if n_isr else set()
    n2 = (n - n1 + 1) // 2
    # site 02 numbers its subjects from 2001, above site 01's, and from 20001 (200001...) once site 01 has 2,000
    # or more: a SUBJID is unique within the study at every size (SD1001)
    base = 2000 if n1 < 2000 else 2 * 10 ** len(str(n1))
    subjects = []
    for i in range(n):
        if i < n1:
            site, subjid = "01", f"{i + 1:03d}"
        elif i < n1 + n2:
            site, subjid = "02", str(base + i - n1 + 1)
        else:
            site, subjid = "03", f"C3-{i - n1 - n2 + 1:02d}"
        subjects.append(Subject(site, subjid, kinds[i], last[i], i in isr))
    site3 = [s for s in subjects if s.site == "03" and s.kind == "responder" and s.last_visit == 9]
    if len(site3) > 1:
        site3[-1].last_visit = 8          # leaves after week 12, before follow-up: SRI-4 unchanged, disposition not
    return subjects


def _decide_items(s: Subject, rng: np.random.Generator, weights: np.ndarray) -> None:
    """SLEDAI-2K descriptors per visit, built so the subject's intended SRI-4 outcome holds."""
    base = np.zeros(24, dtype=bool)
    for idx, p in {**CLINICAL_BASELINE_P, **LAB_BASELINE_P}.items():
        base[idx] = rng.random() < p
    clinical = [i for i in CLINICAL_BASELINE_P]
    if (weights[clinical] * base[clinical]).sum() < 4:
        base[8] = True                                  # arthritis: enough clinical activity to improve
    while (weights * base).sum() < 8:
        base[rng.choice([14, 15, 16, 19, 20])] = True
    u = rng.random(24)
    for v in range(1, s.last_visit + 1):
        if v <= 2:
            s.items[v] = base.copy()
            continue
        if s.kind == "nr_sledai":
            cur = base & (u < 0.97)
            btot = (weights * base).sum()
            for idx in np.argsort(-weights):
                if btot - (weights * cur).sum() < 4:
                    break
                if base[idx] and not cur[idx]:
                    cur[idx] = True
        else:
            cur = base & (u < RESPONDER_ACTIVITY[v])
            if v >= 5:
                btot = (weights * base).sum()
                for idx in np.argsort(-weights, kind="stable"):
                    if btot - (weights * cur).sum() >= 4:
                        break
                    cur[idx] = False
        s.items[v] = cur


def _decide_bilag_pga(s: Subject, rng: np.random.Generator, first_responder: bool) -> None:
    """BILAG-2004 grades and PGA per visit consistent with the subject's intended outcome."""
    b = s.items[2]
    base = ["D" if rng.random() < 0.4 else "E" for _ in BILAG_DOMAINS]
    base[0] = "C" if b[21] else base[0]
    base[1] = "B" if (b[14] or b[15] or b[16]) else "C"
    base[3] = "B" if b[8] else base[3]
    base[7] = "A" if b[12] and rng.random() < 0.3 else ("B" if b[12] else base[7])
    base[8] = "B" if (b[22] or b[23]) else "C"
    pga0 = round(float(rng.uniform(1.5, 2.6)), 1)
    better = {"A": "B", "B": "C", "C": "C", "D": "D", "E": "E"}
    for v in range(1, s.last_visit + 1):
        g = list(base)
        if v >= 3 and s.kind != "nr_sledai":
            g = [better[x] if rng.random() < 0.7 else x for x in g]
        if s.kind == "nr_bilag_a" and v >= 5:
            g[8] = "A"                                   # a new BILAG A (haematological flare)
        if first_responder and v >= 7 and base[0] in "CDE":
            g[0] = "B"                                   # exactly one new BILAG B: still a responder
        s.bilag[v] = g
        if v <= 2:
            s.pga[v] = pga0
        elif s.kind == "nr_pga" and v >= 5:
            s.pga[v] = round(pga0 + 0.5, 1)
        elif s.kind == "nr_sledai":
            s.pga[v] = round(pga0 + float(rng.choice([-0.1, 0.0, 0.1])), 1)
        else:
            s.pga[v] = round(max(0.2, pga0 - 0.25 * (v - 2) + float(rng.uniform(-0.1, 0.1))), 1)


def _draw_labs(s: Subject, rng: np.random.Generator) -> None:
    """Lab values (standard units) agreeing with the lab-based SLEDAI-2K descriptors of each visit."""
    improving = s.kind != "nr_sledai"
    for v in range(1, s.last_visit + 1):
        it = s.items[max(v, 2)] if v > 1 else s.items[2]
        t = 0.0 if v <= 2 or not improving else min(1.0, (v - 2) / 5)
        lab = {}
        lab["DDNAIGAB"] = max(110.0, rng.uniform(160, 600) * (1 - 0.4 * t)) if it[20] else rng.uniform(20, 90)
        if it[19]:
            lab["C3"] = rng.uniform(0.35, 0.85)
            lab["C4"] = rng.uniform(0.03, 0.09) if rng.random() < 0.7 else rng.uniform(0.11, 0.2)
        else:
            lab["C3"], lab["C4"] = rng.uniform(0.92, 1.4), rng.uniform(0.12, 0.3)
        lab["PROTEXR"] = max(0.6, rng.uniform(0.7, 3.0) * (1 - 0.5 * t)) if it[12] else rng.uniform(0.05, 0.4)
        lab["PLAT"] = rng.uniform(55, 95) if it[22] else rng.uniform(130, 320)
        lab["WBC"] = rng.uniform(2.1, 2.9) if it[23] else rng.uniform(3.6, 8.0)
        lab["LYM"] = rng.uniform(0.6, 1.0) + 0.5 * t
        lab["HGB"] = rng.uniform(98, 125) + 10 * t
        lab["CREAT"] = rng.uniform(50, 95)
        lab["TREGCD4"] = rng.uniform(3.0, 5.0) + (4.0 * t if improving else 0.3)
        s.labs[v] = lab


def _draw_vitals(s: Subject, rng: np.random.Generator) -> None:
    """Vital signs at each visit attended (standard units): the subject's own weight with small changes, blood
    pressure and pulse, and a temperature above 38 C exactly at the visits with the SLEDAI-2K fever descriptor."""
    fever = SLEDAI_HEADINGS.index("Fever")
    weight = float(rng.normal(58 if s.sex == "F" else 70, 8))
    for v in range(1, s.last_visit + 1):
        it = s.items[max(v, 2)] if v > 1 else s.items[2]
        sys_bp = int(round(rng.normal(118, 11)))
        s.vitals[v] = {"WEIGHT": round(weight + float(rng.normal(0, 0.6)), 1), "SYSBP": sys_bp,
                       "DIABP": min(int(round(rng.normal(76, 7))), sys_bp - 25),
                       "PULSE": int(round(rng.normal(76, 8))),
                       "TEMP": round(float(rng.uniform(38.1, 38.8) if it[fever] else rng.uniform(36.2, 37.1)), 1)}


def _schedule(s: Subject, rng: np.random.Generator, start: dt.date) -> None:
    """Consent, visit and dosing dates from the trial schedule, with site-realistic jitter."""
    visits = load_study()["visits"]
    s.first_dose = start
    s.consent = start - dt.timedelta(days=int(rng.integers(8, 15)))
    for vis in visits:
        v = vis["VISITNUM"]
        if v > s.last_visit:
            break
        day = vis["VISITDY"]
        jitter = 0 if v == 2 else int(rng.integers(-2, 3))
        if v == 1:
            s.visit_dates[v] = s.consent + dt.timedelta(days=int(rng.integers(0, 3)))
        else:
            s.visit_dates[v] = start + dt.timedelta(days=day - 1 + jitter)
    tr = load_study()["treatment"]
    courses = {9: 3, 8: 3, 7: 3, 6: 2, 5: 2, 4: 1, 3: 1, 2: 1}.get(s.last_visit, 0)
    for c in range(courses):
        for k in range(tr["doses_per_course"]):
            s.dose_dates.append((c + 1, start + dt.timedelta(days=tr["course_days"] * c + 2 * k)))


def _fmt_site2(d: dt.date, style: int) -> object:
    """Site 02 date styles: 05MAR2014, 5-Mar-14, 2014/03/05, or an Excel serial number."""
    if style == 0:
        return f"{d.day:02d}{MONTHS[d.month - 1]}{d.year}"
    if style == 1:
        return f"{d.day}-{MONTHS[d.month - 1].title()}-{d.year % 100:02d}"
    if style == 2:
        return f"{d.year}/{d.month:02d}/{d.day:02d}"
    return (d - EXCEL_EPOCH).days


def _withdrawal_reason(s: Subject) -> str:
    """The intended reason a subject leaves early: lack of efficacy for non-responders, else the subject's wish."""
    return "LACK OF EFFICACY" if s.kind != "responder" else "WITHDRAWAL BY SUBJECT"


def _fmt_site3(d: dt.date, style: str = "dot") -> str:
    """Site 03 dates: 2014.03.18, 1975年1月1日, or the partial 2014年6月."""
    if style == "dot":
        return f"{d.year}.{d.month:02d}.{d.day:02d}"
    if style == "cn":
        return f"{d.year}年{d.month}月{d.day}日"
    return f"{d.year}年{d.month}月"


def _sheet(wb: Workbook, title: str, header: list[str], rows: list[list[object]]) -> None:
    ws = wb.create_sheet(title)
    ws.append(header)
    for c in ws[1]:
        c.font = Font(bold=True)
    for r, row in enumerate(rows, start=2):
        for c, value in enumerate(row, start=1):
            set_text_cell(ws.cell(row=r, column=c), value)


def _aes(s: Subject, rng: np.random.Generator) -> list[dict]:
    """Adverse events of a subject: an injection-site reaction if planned, and a few others."""
    out = []
    if s.isr and s.dose_dates:
        course, d = s.dose_dates[int(rng.integers(0, min(len(s.dose_dates), 7)))]
        out.append({"term": ISR_VERBATIM[s.site][int(rng.integers(0, 3))], "start": d,
                    "end": d + dt.timedelta(days=int(rng.integers(1, 4))), "sev": 1, "ser": False,
                    "rel": "related", "course": course, "out": "recovered"})
    span = (s.visit_dates[s.last_visit] - s.first_dose).days
    for _ in range(int(rng.integers(0, 3))):
        if not s.dose_dates or span < 4:
            break
        pt, alt = OTHER_AES[int(rng.integers(0, len(OTHER_AES)))]
        d = s.first_dose + dt.timedelta(days=int(rng.integers(3, min(80, span))))
        course = min(3, (d - s.first_dose).days // 28 + 1)
        resolved = rng.random() < 0.85
        out.append({"term": pt if s.site == "01" else alt, "start": d,
                    "end": d + dt.timedelta(days=int(rng.integers(2, 10))) if resolved else None,
                    "sev": int(rng.choice([1, 1, 2])), "ser": False,
                    "rel": "not related" if rng.random() < 0.7 else "possibly", "course": course,
                    "out": "recovered" if resolved else "not recovered"})
    return out


def _rescue_roles(subs: list[Subject], first_resp: Subject | None) -> dict[tuple[str, str], str]:
    """Which subjects meet a rescue rule (and whose short steroid burst stays within the rules), by (site, ID)."""
    # A non-responder (the new-BILAG-A flare, else the first completer) raises prednisone above baseline + 10
    # mg/day for 3-4 weeks after week 4; another non-responder completer starts cyclophosphamide after week 6; one
    # responder completer (site 03 if possible) starts a new immunosuppressant between the week-10 and 12 visits.
    roles: dict[tuple[str, str], str] = {}
    nr = [s for s in subs if s.kind != "responder" and s.last_visit == 9]
    nr = sorted(nr, key=lambda s: s.kind != "nr_bilag_a")
    for s, role in zip(nr, ["gc_increase", "new_cyclophosphamide"]):
        roles[(s.site, s.subjid)] = role
    resp = [s for s in subs if s.kind == "responder" and s.last_visit == 9 and s is not first_resp]
    for site in ("03", "02", "01"):
        pick = [s for s in resp if s.site == site]
        if pick:
            roles[(site, pick[-1].subjid)] = "new_immunosuppressant"
            break
    burst = [s for s in resp if s.site == "01" and (s.site, s.subjid) not in roles]
    if burst:
        roles[("01", burst[0].subjid)] = "gc_burst"
    return roles


def _days(d: dt.date, n: int) -> dt.date:
    return d + dt.timedelta(days=int(n))


def _glucocorticoid(s: Subject, rng: np.random.Generator, role: str | None) -> list[Medication]:
    """Glucocorticoid records: an earlier higher dose, the dose at first dose, then tapers or increases."""
    # a dose change ends one record the day before the next starts
    drug = "prednisone" if role == "gc_increase" or rng.random() < (0.4 if s.site == "03" else 0.8) \
        else "methylprednisolone"
    steps, factor = GC_STEPS[drug], GC_FACTOR[drug]
    i = int(rng.integers(1, len(steps)))
    since = _days(s.first_dose, -int(rng.integers(20, 180)))
    segments = [(since, steps[i])]
    if rng.random() < 0.5:                                         # tapered to the current dose before the study
        earlier = _days(since, -int(rng.integers(60, 500)))
        segments.insert(0, (earlier, 2 * steps[i]))
    if role == "gc_increase":                                      # flare: +20 mg/day for 3-4 weeks after week 4
        up = _days(s.visit_dates[4], int(rng.integers(3, 8)))
        segments += [(up, steps[i] + 20 / factor), (_days(up, int(rng.integers(21, 29))), steps[i] + 5 / factor)]
    elif role == "gc_burst":                                       # +15 mg/day for 10 days: within the rules
        up = _days(s.visit_dates[3], int(rng.integers(2, 6)))
        segments += [(up, steps[i] + 15 / factor), (_days(up, 10), steps[i])]
    elif s.kind == "responder" and rng.random() < 0.5:             # a responder's taper at week 4 or week 6
        v = int(rng.choice([4, 5]))
        if v <= s.last_visit:
            segments.append((s.visit_dates[v], steps[i - 1]))
    variant = int(rng.integers(0, 2))
    partial = (s.first_dose - segments[0][0]).days > 365 and rng.random() < 0.6
    out = []
    for k, (start, dose) in enumerate(segments):
        end = _days(segments[k + 1][0], -1) if k + 1 < len(segments) else None
        out.append(Medication(drug, round(dose, 2), "QD", "ORAL", "SLE", start, end,
                              partial_start=partial and k == 0, variant=variant))
    return out


def _medications(s: Subject, rng: np.random.Generator, role: str | None) -> list[Medication]:
    """Concomitant medications of a subject, including the new drug of a rescue role."""
    out: list[Medication] = []
    if role in ("gc_increase", "gc_burst") or rng.random() < 0.9:
        out += _glucocorticoid(s, rng, role)
    if rng.random() < 0.8:
        start = _days(s.first_dose, -int(rng.integers(90, 1500)))
        out.append(Medication("hydroxychloroquine", 200.0, "BID" if rng.random() < 0.7 else "QD", "ORAL", "SLE", start,
                              None, partial_start=(s.first_dose - start).days > 365 and rng.random() < 0.5,
                              variant=int(rng.integers(0, 2))))
    if rng.random() < 0.15:                                        # an induction course finished before the study
        start = _days(s.first_dose, -int(rng.integers(300, 700)))
        out.append(Medication("cyclophosphamide", 500.0, "EVERY 2 WEEKS", "INTRAVENOUS", "LN", start,
                              _days(start, 70), variant=int(rng.integers(0, 2))))
    if rng.random() < 0.45:
        drug, dose, freq = IS_REGIMENS[int(rng.integers(0, len(IS_REGIMENS)))]
        start = _days(s.first_dose, -int(rng.integers(60, 900)))
        out.append(Medication(drug, dose, freq, "ORAL", "LN" if rng.random() < 0.3 else "SLE", start, None,
                              variant=int(rng.integers(0, 2))))
    if any(m.drug in GC_FACTOR for m in out) and rng.random() < 0.5:
        out.append(Medication("calcium", 600.0, "QD", "ORAL", "OP", _days(s.first_dose, -int(rng.integers(30, 400))),
                              None, variant=int(rng.integers(0, 2))))
    if role == "new_cyclophosphamide":                             # rescue: cyclophosphamide after week 6
        start = _days(s.visit_dates[5], int(rng.integers(3, 8)))
        out.append(Medication("cyclophosphamide", 500.0, "EVERY 2 WEEKS", "INTRAVENOUS", "SLE", start, None))
    if role == "new_immunosuppressant":                            # rescue: after week 10, before week 12
        taken = {m.drug for m in out}
        drug = next(d for d in ("tacrolimus", "mycophenolate", "azathioprine") if d not in taken)
        dose, freq = {"tacrolimus": (1.0, "BID"), "mycophenolate": (500.0, "BID"), "azathioprine": (50.0, "BID")}[drug]
        out.append(Medication(drug, dose, freq, "ORAL", "SLE", _days(s.visit_dates[7], int(rng.integers(3, 8))), None))
    return out


def _rescue_intent(s: Subject, role: str | None) -> dict | None:
    """The rescue rule a subject meets, its date (first day of the raised dose or new drug) and first SRI visit."""
    if role not in ("gc_increase", "new_cyclophosphamide", "new_immunosuppressant"):
        return None
    if role == "gc_increase":
        m = max((m for m in s.meds if m.drug in GC_FACTOR and m.start > s.first_dose), key=lambda m: m.dose)
        rule = "glucocorticoid_increase"
        reason = (f"{m.drug} {m.dose:g} mg/day from {m.start.isoformat()} to {m.end.isoformat()}: above baseline "
                  f"+ 10 mg/day prednisone equivalent for more than 14 days")
    else:
        m = s.meds[-1]
        rule = "prohibited_new"
        reason = f"new immunosuppressant after the first dose: {m.drug} from {m.start.isoformat()}"
    visit_names = {v["VISITNUM"]: v["VISIT"] for v in load_study()["visits"]}
    first = min((v for v, d in s.visit_dates.items() if 3 <= v <= 8 and d >= m.start), default=None)
    return {"rule": rule, "date": m.start.isoformat(), "visit_from": visit_names.get(first), "reason": reason}


def generate(subjects: int, seed: int, out: Path, problems: bool = True) -> dict:
    """Write raw site workbooks for `subjects` subjects into `out`; return the generator truth.

    With problems=False no deliberate data problem is injected (a clean transfer, e.g. for tests).
    """
    rng = np.random.default_rng(seed)
    weights = _weights()
    subs = _plan_subjects(subjects, rng)
    first_resp = next((s for s in subs if s.kind == "responder"), None)
    for i, s in enumerate(subs):
        start = dt.date(2014, 3, 3) + dt.timedelta(days=int(i * 270 / max(1, subjects)) + int(rng.integers(0, 5)))
        _schedule(s, rng, start)
        s.sex = "F" if rng.random() < 0.9 else "M"
        s.birth = start - dt.timedelta(days=int(rng.uniform(18, 60) * 365.25))
        _decide_items(s, rng, weights)
        _decide_bilag_pga(s, rng, s is first_resp)
        _draw_labs(s, rng)
    cm_rng = np.random.default_rng(seed + 1)       # medications: a generator of their own, the other sheets unchanged
    roles = _rescue_roles(subs, first_resp)
    for s in subs:
        s.meds = _medications(s, cm_rng, roles.get((s.site, s.subjid)))
        s.rescue = _rescue_intent(s, roles.get((s.site, s.subjid)))
    vs_rng = np.random.default_rng(seed + 2)       # vital signs: a generator of their own too
    for s in subs:
        _draw_vitals(s, vs_rng)
    out.mkdir(parents=True, exist_ok=True)
    site1 = [s for s in subs if s.site == "01"]
    site2 = [s for s in subs if s.site == "02"]
    site3 = [s for s in subs if s.site == "03"]
    found: list[dict] | None = [] if problems else None
    _write_site1(site1, rng, out / "site01_IL2-SLE-01_transfer.xlsx", found, weights)
    if site2:
        _write_site2(site2, rng, out / "site02_export.xlsx", found)
    if site3:
        _write_site3(site3, rng, out / "site03_cn_export.xlsx", found)
    truth = _truth(subs, seed, found or [])
    write_text(out / "generator-truth.json", json.dumps(truth, indent=1, ensure_ascii=False) + "\n")
    return truth


def _truth(subs: list[Subject], seed: int, problems: list[dict]) -> dict:
    """The generator's intent: per subject SRI-4 at weeks 6-12 (N from a rescue date on), dropouts, ISRs, rescue."""
    studyid = load_study()["studyid"]
    visit_names = {v["VISITNUM"]: v["VISIT"] for v in load_study()["visits"]}
    rows = []
    for s in subs:
        sri = {}
        rescued = {visit_names[v] for v, d in s.visit_dates.items()
                   if s.rescue and d >= dt.date.fromisoformat(s.rescue["date"])}
        for v in (5, 6, 7, 8):
            responder = s.kind == "responder" and v <= s.last_visit and visit_names[v] not in rescued
            sri[visit_names[v]] = "Y" if responder else "N"
        completed = s.last_visit == 9
        rows.append({"USUBJID": f"{studyid}-{s.site}-{s.subjid}", "site": s.site, "kind": s.kind,
                     "last_visit": visit_names[s.last_visit], "injection_site_reaction": s.isr,
                     "intended_sri4": sri, "rescue": s.rescue,
                     "disposition": {"EOSSTT": "COMPLETED" if completed else "DISCONTINUED",
                                     "DCSREAS": None if completed else _withdrawal_reason(s)}})
    return {"seed": seed, "subjects": rows, "problems": problems,
            "note": "SRI-4 with non-responder imputation for discontinued subjects and from the date a rescue "
                    "rule is met (rescue.date, the first day of the increased glucocorticoid dose or the new drug)"}


def _write_site1(subs: list[Subject], rng: np.random.Generator, path: Path, problems: list[dict],
                 weights: np.ndarray) -> None:
    """Site 01: a sheet per CRF form, labs long, real Excel dates, M/F, CDISC-like units."""
    wb = Workbook()
    wb.remove(wb.active)
    dm, ex, ae, lb, sled, pga, bil, vs = [], [], [], [], [], [], [], []
    for s in subs:
        completed = s.last_visit == 9
        eos = s.visit_dates[s.last_visit]
        dm.append([s.subjid, "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTWXYZ"), 2)), s.birth,
                   (s.first_dose - s.birth).days // 365, s.sex, "Han", "Asian", s.consent,
                   round(float(rng.uniform(0.5, 12)), 1), "Y" if completed else "N", eos,
                   "" if completed else SITE1_REASON[_withdrawal_reason(s)]])
        for n, (course, d) in enumerate(s.dose_dates, start=1):
            ex.append([s.subjid, course, n, d, 1000000, ["Abdomen", "Thigh", "Upper arm"][n % 3]])
        for n, a in enumerate(_aes(s, rng), start=1):
            ae.append([s.subjid, n, a["term"], a["start"], a["end"], ["Mild", "Moderate", "Severe"][a["sev"] - 1],
                       "N", {"related": "Related", "not related": "Not related",
                             "possibly": "Possibly related"}[a["rel"]],
                       "None", {"recovered": "Recovered", "not recovered": "Not recovered"}[a["out"]], a["course"]])
        for v, d in s.visit_dates.items():
            vname = _visit_label(v, 1)
            for test, value in s.labs[v].items():
                lo, hi = LAB_RANGES[test]
                if test == "PLAT":
                    res = f"{value:.0f}"
                elif test == "DDNAIGAB":
                    res = f"{value:.1f}"
                else:
                    res = f"{value:.2f}"
                lb.append([s.subjid, vname, d, SITE1_TEST_NAMES[test], res, SITE1_UNITS[test],
                           _fmt_num(lo), _fmt_num(hi)])
            it = s.items[max(v, 2)] if v > 1 else s.items[2]
            scores = [int(w) if p else 0 for w, p in zip(weights, it)]
            sled.append([s.subjid, vname, d, *scores, sum(scores)])
            pga.append([s.subjid, vname, d, s.pga[v]])
            bil.append([s.subjid, vname, d, *s.bilag[v]])
            vs.append([s.subjid, vname, d, *[s.vitals[v][t] for t in VS_TESTS]])
    if problems is not None:
        _inject_site1_problems(subs, dm, ae, lb, problems)
    _sheet(wb, "Demography", ["Subject ID", "Initials", "Date of birth", "Age", "Sex", "Ethnic group", "Race",
                              "Informed consent date", "SLE duration (years)", "Completed study",
                              "End of study date", "Reason for discontinuation"], dm)
    _sheet(wb, "Dosing log", ["Subject ID", "Course", "Injection no.", "Injection date", "Dose (IU)",
                              "Injection site"], ex)
    _sheet(wb, "Adverse events", ["Subject ID", "AE no.", "Adverse event", "Start date", "End date", "Severity",
                                  "Serious", "Relationship to IL-2", "Action taken", "Outcome", "Course"], ae)
    _sheet(wb, "Labs", ["Subject ID", "Visit", "Sample date", "Test", "Result", "Unit", "Low", "High"], lb)
    _sheet(wb, "SLEDAI-2K", ["Subject ID", "Visit", "Assessment date",
                             *[f"{h} ({int(w)})" for h, w in zip(SLEDAI_HEADINGS, weights)], "Total score"], sled)
    _sheet(wb, "PGA", ["Subject ID", "Visit", "Assessment date", "PGA (0-3)"], pga)
    _sheet(wb, "BILAG-2004", ["Subject ID", "Visit", "Assessment date", *BILAG_DOMAINS], bil)
    _sheet(wb, "Vital signs", ["Subject ID", "Visit", "Date", "Weight (kg)", "Systolic BP (mmHg)",
                               "Diastolic BP (mmHg)", "Pulse (beats/min)", "Temperature (C)"], vs)
    _sheet(wb, "Concomitant medications", ["Subject ID", "CM no.", "Medication", "Indication", "Dose", "Unit",
                                           "Frequency", "Route", "Start date", "Stop date", "Ongoing"],
           _cm_site1(subs))
    save_workbook(wb, path, FILE_TIME)


def _fmt_num(x: float) -> str:
    return f"{x:g}"


def _visit_label(v: int, site: int) -> str:
    if site == 1:
        return {1: "Screening", 2: "Baseline", 9: "Follow-up"}.get(v, f"Week {2 * (v - 2)}")
    return f"V{v - 1}"


def _inject_site1_problems(subs, dm, ae, lb, problems) -> None:
    """Deliberate problems at site 01 (documented in samples/README.md and the truth file)."""
    studyid = load_study()["studyid"]
    if len(ae) >= 2:
        ae[1][3] = None
        problems.append({"id": "P1", "site": "01", "sheet": "Adverse events", "row": 3, "heading": "Start date",
                         "usubjid": f"{studyid}-01-{ae[1][0]}", "problem": "missing AE start date",
                         "expect": "carried; validation: AESTDTC missing"})
    if len(subs) >= 4:
        s = subs[3]
        row = next((r for i, r in enumerate(ae) if r[0] == s.subjid and i != 1), None)
        if row is None:
            ae.append([s.subjid, 1, "Headache", None, None, "Mild", "N", "Not related", "None", "Recovered", 1])
            row = ae[-1]
        row[3] = s.consent - dt.timedelta(days=10)
        row[4] = s.consent - dt.timedelta(days=5)
        problems.append({"id": "P5", "site": "01", "sheet": "Adverse events", "row": ae.index(row) + 2,
                         "heading": "Start date",
                         "usubjid": f"{studyid}-01-{s.subjid}", "problem": "AE starts before informed consent",
                         "expect": "carried; validation: AESTDTC before RFICDTC"})
    dup = next(i for i, r in enumerate(lb) if r[3] == SITE1_TEST_NAMES["C3"] and r[1] == "Week 4")
    lb.insert(dup + 1, list(lb[dup]))
    problems.append({"id": "P4", "site": "01", "sheet": "Labs", "row": dup + 3, "heading": "",
                     "usubjid": f"{studyid}-01-{lb[dup][0]}", "problem": "lab row duplicated",
                     "expect": "carried; validation: duplicate LB record"})
    lt = next(i for i, r in enumerate(lb) if r[3] == SITE1_TEST_NAMES["PROTEXR"] and r[1] == "Week 12")
    lb[lt][4] = "<0.05"
    problems.append({"id": "P6", "site": "01", "sheet": "Labs", "row": lt + 2, "heading": "Result",
                     "usubjid": f"{studyid}-01-{lb[lt][0]}", "problem": "lab result reported as text '<0.05'",
                     "expect": "carried: LBSTRESC '<0.05', LBSTRESN empty"})


def _write_site2(subs: list[Subject], rng: np.random.Generator, path: Path, problems: list[dict] | None) -> None:
    """Site 02: other headings, labs wide, mixed date styles, Chinese sex codes, other units."""
    wb = Workbook()
    wb.remove(wb.active)
    dm, ex, ae, lb, da, vs = [], [], [], [], [], []
    sex_spell = {"F": ["女", "Female", "F"], "M": ["男", "Male", "M"]}
    for s in subs:
        st = int(rng.integers(0, 4))
        withdrawn = s.last_visit < 9
        dm.append([int(s.subjid), f"Patient {s.subjid}", sex_spell[s.sex][int(rng.integers(0, 3))],
                   _fmt_site2(s.birth, 0), _fmt_site2(s.consent, 1), (s.first_dose - s.birth).days // 365,
                   "Chinese", SITE2_STATUS[_withdrawal_reason(s)] if withdrawn else "Completed",
                   _fmt_site2(s.visit_dates[s.last_visit], 0)])
        courses = sorted({c for c, _ in s.dose_dates})
        for c in courses:
            ds = [d for cc, d in s.dose_dates if cc == c]
            ex.append([int(s.subjid), c, _fmt_site2(ds[0], st), _fmt_site2(ds[-1], st), 1, "every other day", "s.c."])
        for a in _aes(s, rng):
            ae.append([int(s.subjid), a["term"], _fmt_site2(a["start"], 0),
                       _fmt_site2(a["end"], 0) if a["end"] else "", ["Grade 1", "grade 2", "Grade 3"][a["sev"] - 1],
                       "No", {"related": "probably", "not related": "unlikely", "possibly": "possibly"}[a["rel"]],
                       "none", {"recovered": "recovered", "not recovered": "ongoing"}[a["out"]]])
        for v, d in s.visit_dates.items():
            vname = _visit_label(v, 2)
            date_cell = _fmt_site2(d, 2 if v % 2 else 3)
            row = [int(s.subjid), vname, date_cell]
            for _, test, factor, dec in SITE2_LAB_COLUMNS:
                row.append(round(s.labs[v][test] * factor, dec) if dec else int(round(s.labs[v][test] * factor)))
            lb.append(row)
            it = s.items[max(v, 2)] if v > 1 else s.items[2]
            da.append([int(s.subjid), vname, date_cell, *["Y" if p else "N" for p in it], s.pga[v], *s.bilag[v]])
            w = s.vitals[v]                                    # weight in pounds
            vs.append([int(s.subjid), vname, date_cell, round(w["WEIGHT"] / 0.45359237, 1), w["SYSBP"], w["DIABP"],
                       w["PULSE"], w["TEMP"]])
    if problems is not None:
        _inject_site2_problems(ae, lb, problems)
    _sheet(wb, "Patients", ["Pt ID", "Patient name", "Gender", "Birth date", "Consent", "Age (yrs)",
                            "Nationality", "Status", "Last visit date"], dm)
    _sheet(wb, "IL-2 administration", ["Pt ID", "Cycle", "First injection", "Last injection", "Dose (MIU)",
                                       "Frequency", "Route"], ex)
    _sheet(wb, "AE log", ["Pt ID", "Event", "Onset", "Resolved", "Grade", "SAE?", "Related?", "Action",
                          "Outcome"], ae)
    _sheet(wb, "Lab results", ["Pt ID", "Visit", "Date", *[c[0] for c in SITE2_LAB_COLUMNS]], lb)
    _sheet(wb, "Disease activity", ["Pt ID", "Visit", "Date", *SLEDAI_HEADINGS, "PGA",
                                    *[f"BILAG {d[:5]}" for d in BILAG_DOMAINS]], da)
    _sheet(wb, "Vitals", ["Pt ID", "Visit", "Date", "Wt (lbs)", "SBP", "DBP", "HR", "Temp (C)"], vs)
    _sheet(wb, "Medication list", ["Pt ID", "Drug", "Dose", "Dose unit", "Freq", "Route", "Start", "Stop",
                                   "Continuing"],
           _cm_site2(subs))
    save_workbook(wb, path, FILE_TIME)


def _inject_site2_problems(ae: list, lb: list, problems: list[dict]) -> None:
    """Deliberate problems at site 02 (documented in samples/README.md and the truth file)."""
    studyid = load_study()["studyid"]
    if ae:
        ae[0][2] = "UNK-" + ae[0][2][2:5] + "-" + ae[0][2][5:]
        problems.append({"id": "P9", "site": "02", "sheet": "AE log", "row": 2, "heading": "Onset",
                         "usubjid": f"{studyid}-02-{ae[0][0]}",
                         "problem": "partial AE start date UNK-MON-YYYY (legitimate: kept partial)",
                         "expect": "carried as YYYY-MM"})
    if len(lb) > 3:
        r = lb[3]
        r[2] = "2014/02/30"
        problems.append({"id": "P2", "site": "02", "sheet": "Lab results", "row": 5, "heading": "Date",
                         "usubjid": f"{studyid}-02-{r[0]}", "problem": "impossible date 2014/02/30",
                         "expect": "rejects.csv (value kept unmapped); validation: LBDTC not ISO 8601"})
    if len(ae) >= 2:
        ae[1][4] = "Moderate-severe"
        problems.append({"id": "P3", "site": "02", "sheet": "AE log", "row": 3, "heading": "Grade",
                         "usubjid": f"{studyid}-02-{ae[1][0]}",
                         "problem": "unknown AE severity 'Moderate-severe'",
                         "expect": "rejects.csv (value not in codelist); validation: AESEV not in CT"})
    ae.append([None, "rash", "12MAY2014", "", "Grade 1", "No", "unlikely", "none", "recovered"])
    problems.append({"id": "P7", "site": "02", "sheet": "AE log", "row": len(ae) + 1, "heading": "Pt ID", "usubjid": "",
                     "problem": "AE row without a patient ID", "expect": "rejects.csv: row rejected"})
    ae.append([2999, "headache", "03JUN2014", "05JUN2014", "Grade 1", "No", "unlikely", "none", "recovered"])
    problems.append({"id": "P8", "site": "02", "sheet": "AE log", "row": len(ae) + 1, "heading": "Pt ID",
                     "usubjid": f"{studyid}-02-2999", "problem": "AE for a patient not in the demography sheet",
                     "expect": "carried; validation: USUBJID not in DM"})


def _write_site3(subs: list[Subject], rng: np.random.Generator, path: Path, problems: list[dict] | None) -> None:
    """Site 03: Chinese headings and terms, dotted and 年/月/日 dates, birth date only (no age), labs wide,
    SLEDAI-2K descriptors as 是/否, a PGA not assessed at screening, and an end-of-study sheet."""
    studyid = load_study()["studyid"]
    wb = Workbook()
    wb.remove(wb.active)
    dm, ex, ae, lb, da, eos, vs = [], [], [], [], [], [], []
    visit_cn = {1: "筛选期", 2: "基线", 9: "随访"}
    for n, s in enumerate(subs):
        birth = _fmt_site3(s.birth, "cn")
        if n == 1 and s.birth.month != s.consent.month:
            birth = _fmt_site3(s.birth, "month")          # a partial birth date that still decides the age
        dm.append([s.subjid, "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTWXYZ"), 2)), birth,
                   {"F": "女", "M": "男"}[s.sex], "汉族", _fmt_site3(s.consent)])
        for k, (course, d) in enumerate(s.dose_dates, start=1):
            ex.append([s.subjid, course, _fmt_site3(d), 100, ["腹部", "大腿", "上臂"][k % 3]])
        for a in _aes(s, rng):
            term = a["term"] if a["term"] in SITE3_ISR else SITE3_AES[
                next(pt for pt, alt in OTHER_AES if a["term"] in (pt, alt))]
            end = "" if a["end"] is None else (_fmt_site3(a["end"], "month") if a["end"].day > 25 else _fmt_site3(a["end"]))
            ae.append([s.subjid, term, _fmt_site3(a["start"]), end, ["轻度", "中度", "重度"][a["sev"] - 1], "否",
                       {"related": "肯定有关", "not related": "无关", "possibly": "可能有关"}[a["rel"]], "无",
                       {"recovered": "痊愈", "not recovered": "未痊愈"}[a["out"]]])
        for v, d in s.visit_dates.items():
            vname = visit_cn.get(v, f"第{2 * (v - 2)}周")
            lb.append([s.subjid, vname, _fmt_site3(d),
                       *[round(s.labs[v][test], dec) if dec else int(round(s.labs[v][test]))
                         for _, test, dec in SITE3_LAB_COLUMNS]])
            it = s.items[max(v, 2)] if v > 1 else s.items[2]
            pga: object = s.pga[v]
            if n == 0 and v == 1:
                pga = SITE3_NOT_DONE                           # PGA not assessed at screening
            da.append([s.subjid, vname, _fmt_site3(d), *["是" if p else "否" for p in it], pga, *s.bilag[v]])
            vs.append([s.subjid, vname, _fmt_site3(d), *[s.vitals[v][t] for t in VS_TESTS]])
        completed = s.last_visit == 9
        eos.append([s.subjid, "完成" if completed else "提前退出", _fmt_site3(s.visit_dates[s.last_visit]),
                    "" if completed else SITE3_REASON[_withdrawal_reason(s)]])
    if problems is not None and subs:
        problems.append({"id": "P10", "site": "03", "sheet": "疾病活动度", "row": 2, "heading": "医生总体评估(PGA)",
                         "usubjid": f"{studyid}-03-{subs[0].subjid}", "problem": "PGA not assessed (未评估) at screening",
                         "expect": "QSSTAT NOT DONE, QSORRES empty; no finding"})
    _sheet(wb, "人口学资料", ["受试者编号", "姓名缩写", "出生日期", "性别", "民族", "知情同意日期"], dm)
    _sheet(wb, "给药记录", ["受试者编号", "疗程", "注射日期", "剂量（万IU）", "注射部位"], ex)
    _sheet(wb, "不良事件", ["受试者编号", "不良事件名称", "开始日期", "结束日期", "严重程度", "是否严重", "与研究药物关系",
                        "采取措施", "转归"], ae)
    _sheet(wb, "实验室检查", ["受试者编号", "访视", "采样日期", *[c[0] for c in SITE3_LAB_COLUMNS]], lb)
    _sheet(wb, "疾病活动度", ["受试者编号", "访视", "评估日期", *SITE3_SLEDAI, "医生总体评估(PGA)", *SITE3_BILAG], da)
    _sheet(wb, "研究结束", ["受试者编号", "完成状态", "结束日期", "退出原因"], eos)
    _sheet(wb, "生命体征", ["受试者编号", "访视", "检查日期", "体重(kg)", "收缩压(mmHg)", "舒张压(mmHg)", "脉搏(次/分)",
                        "体温(℃)"], vs)
    _sheet(wb, "合并用药", ["受试者编号", "药物名称", "用药原因", "单次剂量", "剂量单位", "频次", "给药途径", "开始日期",
                        "结束日期", "持续用药"], _cm_site3(subs))
    save_workbook(wb, path, FILE_TIME)


def _dose(x: float) -> float | int:
    """A dose as the site writes it: 10, not 10.0."""
    return int(x) if float(x).is_integer() else x


def _cm_name(m: Medication, site: str) -> str:
    names = CM_NAMES[m.drug][site]
    return names[m.variant % len(names)]


def _cm_site1(subs: list[Subject]) -> list[list[object]]:
    """Site 01 CRF form: English names, Excel dates (a start month as text 2012-06), an Ongoing tick Y."""
    rows = []
    for s in subs:
        for n, m in enumerate(s.meds, start=1):
            start = f"{m.start.year}-{m.start.month:02d}" if m.partial_start else m.start
            rows.append([s.subjid, n, _cm_name(m, "01"), CM_INDICATION[m.indication]["01"], _dose(m.dose), "mg",
                         CM_FREQ[m.freq]["01"], CM_ROUTE[m.route]["01"], start, m.end, "Y" if m.end is None else ""])
    return rows


def _cm_site2(subs: list[Subject]) -> list[list[object]]:
    """Site 02 pharmacy export: brand or short names, 05MAR2014 / UNK-JUN-2012, no indication, Continuing yes."""
    rows = []
    for s in subs:
        for m in s.meds:
            start = f"UNK-{MONTHS[m.start.month - 1]}-{m.start.year}" if m.partial_start else _fmt_site2(m.start, 0)
            rows.append([int(s.subjid), _cm_name(m, "02"), _dose(m.dose), "mg", CM_FREQ[m.freq]["02"],
                         CM_ROUTE[m.route]["02"], start, _fmt_site2(m.end, 0) if m.end else "",
                         "yes" if m.end is None else ""])
    return rows


def _cm_site3(subs: list[Subject]) -> list[list[object]]:
    """Site 03 合并用药: Chinese names, reasons and frequencies, 毫克, 2014.03.18 / 2012年6月, 持续用药 是."""
    rows = []
    for s in subs:
        for m in s.meds:
            start = _fmt_site3(m.start, "month") if m.partial_start else _fmt_site3(m.start)
            rows.append([s.subjid, _cm_name(m, "03"), CM_INDICATION[m.indication]["03"], _dose(m.dose), "毫克",
                         CM_FREQ[m.freq]["03"], CM_ROUTE[m.route]["03"], start,
                         _fmt_site3(m.end) if m.end else "", "是" if m.end is None else ""])
    return rows
