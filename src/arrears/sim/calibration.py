"""How close the simulated lender is to real ones: measures and checks (docs/simulator.md §6).

``measure`` computes, from the ground truth of a run (instalment outcomes and loan-months),
the figures the market publishes: first-day delinquency (D1, 入催率), the 30-day collection
rate, flow into M2 (C-M2), first-payment default, the M2 → 90+ roll, the 90+ balance ratio and
what is recovered after 90 days past due. ``checks`` sets them against the published ranges
(``../shared/data/market_calibration.md`` §11), against the real month-on-month roll rates of
``collections_rollrate`` and the real status shares of Lending Club loans a few months after
issue, each with a stated tolerance. The two real datasets ship as small extracts
(``data/reference/``); pass ``data_dir`` to read the originals instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

ROLL_BUCKETS = ((0, 0, "0"), (1, 5, "1-5"), (6, 10, "6-10"), (11, 30, "11-30"),
                (31, 60, "31-60"), (61, 10**6, "61+"))
LC_LATE = ("In Grace Period", "Late (16-30 days)", "Late (31-120 days)")


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison. ``low``/``high`` bound the simulated value; None: reported only."""

    metric: str
    zh: str
    simulated: float
    reference: float
    low: float | None
    high: float | None
    source: str

    @property
    def ok(self) -> bool | None:
        if self.low is None or self.high is None:
            return None
        return self.low <= self.simulated <= self.high


def _bucket(col: str) -> pl.Expr:
    expr: Any = pl.when(pl.col(col) <= 0).then(pl.lit("0"))
    for lo, hi, name in ROLL_BUCKETS[1:]:
        expr = expr.when(pl.col(col).is_between(lo, hi)).then(pl.lit(name))
    out: pl.Expr = expr.otherwise(pl.lit("61+"))
    return out


def instalment_measures(inst: pl.DataFrame, end: date) -> dict[str, float]:
    """D1, 30-day collection, C-M2, FPD7/FPD30 over instalments due in the last ~6 months
    with 30 days of follow-up. D1 is a flow: instalments of loans current until their due
    date (the previous instalment cleared before it) that are not cleared by the end of it —
    what enters collections (入催); instalments paid ahead or settled early are not due."""
    prev = pl.col("cleared_on").shift(1).over("loan_id", order_by="n")
    win = inst.with_columns(_prev=prev).filter(
        pl.col("due_on").is_between(end - timedelta(days=210), end - timedelta(days=31)),
        pl.col("cleared_on").is_null() | (pl.col("cleared_on") >= pl.col("due_on")),
        (pl.col("n") == 1) | (pl.col("_prev") < pl.col("due_on")).fill_null(False))
    late = pl.col("cleared_on").is_null() | (pl.col("cleared_on") > pl.col("due_on"))
    cured = (pl.col("cleared_on") <= pl.col("due_on") + pl.duration(days=30)).fill_null(False)
    s = win.select(
        due=pl.col("principal").sum(), d1=pl.col("principal").filter(late).sum(),
        cured=pl.col("principal").filter(late & cured).sum()).row(0, named=True)
    first = win.filter(pl.col("n") == 1)
    week = (pl.col("cleared_on") <= pl.col("due_on") + pl.duration(days=7)).fill_null(False)
    f = first.select(
        orig=pl.col("loan_principal").sum(),
        fpd7=pl.col("loan_principal").filter(~week).sum(),
        fpd30=pl.col("loan_principal").filter(~cured).sum()).row(0, named=True)
    d1 = s["d1"] / max(s["due"], 1)
    cure = s["cured"] / max(s["d1"], 1)
    return {"d1": d1, "cure30": cure, "c_m2": d1 * (1 - cure),
            "fpd7": f["fpd7"] / max(f["orig"], 1), "fpd30": f["fpd30"] / max(f["orig"], 1)}


def _pairs(lm: pl.DataFrame, gap: int) -> pl.DataFrame:
    """Each loan-month with the same loan ``gap`` months later (absent: paid off, dpd 0)."""
    months = sorted(lm["month"].unique().to_list())
    index = pl.DataFrame({"month": months, "_m": list(range(len(months)))})
    m = lm.join(index, on="month")
    later = m.select("loan_id", pl.col("_m") - gap, dpd_next="dpd", paid_next="paid")
    out = m.filter(pl.col("_m") + gap < len(months)).join(later, on=["loan_id", "_m"],
                                                            how="left")
    return out.with_columns(pl.col("dpd_next").fill_null(0))


def book_measures(lm: pl.DataFrame) -> dict[str, float]:
    """M2 → 90+ roll (balance), 90+ ratio at the end, recovery within 6 months of 90+."""
    two = _pairs(lm, 2).filter(pl.col("dpd").is_between(31, 60))
    roll = two.select(pl.col("outstanding_principal").filter(pl.col("dpd_next") >= 91).sum()
                      / pl.col("outstanding_principal").sum()).item()
    last = lm.filter(pl.col("month") == lm["month"].max(), pl.col("dpd") <= 180)
    ratio = last.select(pl.col("outstanding_principal").filter(pl.col("dpd") >= 91).sum()
                        / pl.col("outstanding_principal").sum()).item()
    months = sorted(lm["month"].unique().to_list())
    entered = _pairs(lm, 1).filter(pl.col("dpd_next").is_between(91, 120), pl.col("dpd") <= 90)
    entered = entered.select("loan_id", start=pl.col("_m") + 1)
    entered = entered.filter(pl.col("start") + 6 < len(months))
    index = pl.DataFrame({"month": months, "_m": list(range(len(months)))})
    at = lm.join(index, on="month").join(entered, on="loan_id")
    base = float(at.filter(pl.col("_m") == pl.col("start"))["outstanding_principal"].sum())
    paid = float(at.filter(pl.col("_m").is_between(pl.col("start") + 1, pl.col("start") + 6))[
        "paid"].sum())
    return {"roll_m2_90": float(roll or 0.0), "ratio_90": float(ratio or 0.0),
            "recovery_6m_after_90": paid / base if base else float("nan"),
            "roll_m2_90_loans": float(two.height), "recovery_loans": float(
                entered.height)}


def roll_matrix(lm: pl.DataFrame) -> pl.DataFrame:
    """Month-on-month transitions between the roll-rate sample's buckets (loans delinquent
    at the start of the month), as shares of each starting bucket."""
    pairs = _pairs(lm, 1).filter(pl.col("dpd") > 0)
    return _shares(pairs.select(old=_bucket("dpd"), new=_bucket("dpd_next")))


def _shares(frame: pl.DataFrame) -> pl.DataFrame:
    counts = frame.group_by("old", "new").len("n")
    return counts.with_columns(share=pl.col("n") / pl.col("n").sum().over("old")).sort(
        "old", "new")


def reference_roll_matrix(data_dir: Path | None = None) -> pl.DataFrame:
    """The same matrix from the real sample (477 small-business loans, 2012-11 → 2012-12)."""
    path = (data_dir / "collections_rollrate" / "loan_delinquency_rollrate.csv"
            if data_dir else None)
    df = _read(path, "rollrate_extract.csv")
    return _shares(df.select(old=_bucket("days_delinquent_old"),
                             new=_bucket("days_delinquent_new")))


def _read(path: Path | None, extract: str) -> pl.DataFrame:
    if path is not None:
        return pl.read_csv(path, null_values=["NA", ""], infer_schema_length=None)
    ref = resources.files("arrears.sim").joinpath(f"data/reference/{extract}")
    with ref.open("rb") as f:
        return pl.read_csv(f)


def reference_lending_club(data_dir: Path | None = None) -> dict[str, float]:
    """Status shares of the 10,000 Lending Club loans (issued Jan–Mar 2018, seen 3–5 months
    later)."""
    if data_dir is not None:
        raw = _read(data_dir / "lending_club" / "openintro_loans_full_schema.csv", "")
        counts = raw.group_by("loan_status").len("loans")
    else:
        counts = _read(None, "lending_club_status.csv").group_by("loan_status").agg(
            pl.col("loans").sum())
    total = int(counts["loans"].sum())
    get = dict(zip(counts["loan_status"], counts["loans"], strict=True))
    return _lc_shares({k: get.get(k, 0) / total for k in get}, total)


def _lc_shares(share: dict[str, float], total: int) -> dict[str, float]:
    late16, late31 = share.get("Late (16-30 days)", 0.0), share.get("Late (31-120 days)", 0.0)
    return {"loans": float(total), "grace": share.get("In Grace Period", 0.0),
            "late16": late16, "late31": late31, "charged_off": share.get("Charged Off", 0.0),
            "paid_off": share.get("Fully Paid", 0.0),
            "late_any": share.get("In Grace Period", 0.0) + late16 + late31,
            "late31_of_late": late31 / (late16 + late31) if late16 + late31 else 0.0}


def lending_club_like(lm: pl.DataFrame, inst: pl.DataFrame) -> dict[str, float]:
    """The same shares for simulated monthly instalment loans of 12+ terms, each seen at the
    first month end 90–150 days after disbursement (LC's loans were seen 3–5 months after
    issue; LC calls 1–15 days late the grace period and charges off beyond 120 days). A loan
    already closed by then is fully paid."""
    months = pl.DataFrame({"month": sorted(lm["month"].unique().to_list())})
    meta = inst.group_by("loan_id").agg(pl.col("disbursed_on").first(), terms=pl.len(),
                                        monthly=pl.col("monthly").first())
    meta = meta.filter(pl.col("monthly"), pl.col("terms") >= 12).sort("disbursed_on")
    seen = meta.with_columns(_from=pl.col("disbursed_on") + pl.duration(days=90)).join_asof(
        months.sort("month"), left_on="_from", right_on="month", strategy="forward")
    seen = seen.filter(pl.col("month").is_not_null(),
                       (pl.col("month") - pl.col("disbursed_on")).dt.total_days() <= 150)
    seen = seen.join(lm.select("loan_id", "month", "status", "raw_dpd"), on=["loan_id", "month"],
                     how="left")
    status = (pl.when(pl.col("status").is_null() | (pl.col("status") == "closed"))
              .then(pl.lit("Fully Paid"))
              .when(pl.col("raw_dpd") == 0).then(pl.lit("Current"))
              .when(pl.col("raw_dpd") <= 15).then(pl.lit("In Grace Period"))
              .when(pl.col("raw_dpd") <= 30).then(pl.lit("Late (16-30 days)"))
              .when(pl.col("raw_dpd") <= 120).then(pl.lit("Late (31-120 days)"))
              .otherwise(pl.lit("Charged Off")))
    counts = seen.group_by(status.alias("s")).len("n")
    total = max(int(counts["n"].sum()), 1)
    return _lc_shares({s: n / total for s, n in counts.iter_rows()}, total)


# published figures (market_calibration.md §11): (metric, 中文, reference, low, high, source)
PUBLISHED: tuple[tuple[str, str, float, float | None, float | None, str], ...] = (
    ("d1", "首日逾期率 D1", 0.050, 0.040, 0.060,
     "Qifu D1 4.6–5.5 %, Q3 2024–Q3 2025 [S1][S3][S5][S8]"),
    ("cure30", "30天回收率", 0.87, 0.82, 0.91,
     "Qifu 30-day collection 85.1–88.1 % [S1][S4][S5][S8][S9]"),
    ("c_m2", "C-M2 入M2比例", 0.0062, 0.004, 0.010,
     "Qifu C-M2 0.57–0.79 %, average 0.62 % 2021–2024 [S3][S5]"),
    ("fpd7", "FPD7", 0.023, 0.010, 0.035, "Lexin FPD7 1.81–2.77 % (2020) [S28][S29]"),
    ("fpd30", "FPD30", 0.010, 0.0, 0.015, "Lexin FPD30 < 1 % (2020–21) [S20]"),
    ("roll_m2_90", "M2→90+ 迁徙率 (余额)", 0.85, 0.50, 0.95,
     "X Financial 31–60 → 91–180 lagged ratio, median 0.87 (derived ⚠) [S30][S33]"),
    ("recovery_6m_after_90", "90+后6个月回收率", 0.065, 0.01, 0.20,
     "NPL sale prices: 4–6.5 % of unpaid; > 11 % under a year overdue (⚠ weak) [S1][S61][S65]"),
    ("ratio_90", "90+余额占比", 0.020, None, None,
     "Qifu 1.97–2.09 % (2025) [S4][S6]; a one-year-old growing book has not built its 90+ "
     "stock yet — reported only"),
)


MIN_COHORT = 500  # loans behind a balance-weighted book measure before it is checked
UNCHECKED = {
    "roll_cure_1_30": "; contradicts the Chinese 30-day collection rate of 85–88 %, which the "
                      "simulator follows — reported only",
    "roll_worse_31_60": "; daily-paying US small-business loans step back a bucket on any "
                        "payment, a missed monthly instalment rolls straight on — reported only",
}


def _band(real: float, n_real: float, n_sim: float, allowance: float) -> tuple[float, float]:
    """Real share ± (3 standard errors of the difference of two sample shares + a market
    allowance: 5 points, or half the real share when that is smaller)."""
    var = real * (1 - real)
    se = (var / max(n_real, 1) + var / max(n_sim, 1)) ** 0.5
    half = 3 * se + min(allowance, real / 2)
    return max(0.0, real - half), min(1.0, real + half)


def _roll_stat(matrix: pl.DataFrame, old: list[str], new: list[str]) -> tuple[float, float]:
    rows = matrix.filter(pl.col("old").is_in(old))
    n = float(rows["n"].sum())
    hit = float(rows.filter(pl.col("new").is_in(new))["n"].sum())
    return (hit / n if n else float("nan")), n


def checks(inst: pl.DataFrame, lm: pl.DataFrame, end: date,
           data_dir: Path | None = None) -> list[Check]:
    """Every comparison of docs/simulator.md §6 for one run's ground truth."""
    m = instalment_measures(inst, end) | book_measures(lm)
    out = []
    for k, zh, ref, lo, hi, src in PUBLISHED:
        cohort = m.get({"roll_m2_90": "roll_m2_90_loans",
                        "recovery_6m_after_90": "recovery_loans"}.get(k, ""), float("inf"))
        if cohort < MIN_COHORT:  # a few large loans decide it: too noisy to check
            lo = hi = None
            src += f" — {int(cohort)} loans in the cohort, reported only (< {MIN_COHORT})"
        out.append(Check(k, zh, m[k], ref, lo, hi, src))
    sim_roll, real_roll = roll_matrix(lm), reference_roll_matrix(data_dir)
    early, late, worst = ["1-5", "6-10", "11-30"], ["31-60"], ["61+"]
    roll_src = "collections_rollrate: 477 real loans, 2012-11 → 2012-12 (3 SE + allowance)"
    for metric, zh, old, new, checked in (
            ("roll_cure_1_30", "1–30天→结清/正常", early, ["0"], False),
            ("roll_cure_31_60", "31–60天→结清/正常", late, ["0"], True),
            ("roll_stay_61", "61+天→61+天", worst, worst, True),
            ("roll_worse_31_60", "31–60天→61+天", late, worst, False)):
        sim, n_sim = _roll_stat(sim_roll, old, new)
        real, n = _roll_stat(real_roll, old, new)
        lo, hi = _band(real, n, n_sim, 0.05) if checked else (None, None)
        out.append(Check(metric, zh, sim, real, lo, hi,
                         roll_src if checked else roll_src + UNCHECKED[metric]))
    lc_sim, lc_real = lending_club_like(lm, inst), reference_lending_club(data_dir)
    lc_src = "Lending Club 2018Q1, seen 3–5 months after issue (3 SE + allowance)"
    for metric, zh, key in (
            ("lc_late_any", "LC逾期占比(1–120天)", "late_any"),
            ("lc_late31_of_late", "LC 31–120天占16–120天", "late31_of_late"),
            ("lc_paid_off", "LC提前结清占比", "paid_off"),
            ("lc_charged_off", "LC核销占比", "charged_off")):
        lo, hi = _band(lc_real[key], _lc_n(lc_real, key), _lc_n(lc_sim, key), 0.05)
        out.append(Check(metric, zh, lc_sim[key], lc_real[key], lo, hi, lc_src))
    return out


def _lc_n(shares: dict[str, float], key: str) -> float:
    """The sample size behind an LC share (the late loans for the split of the late)."""
    late = shares["late16"] + shares["late31"]
    return shares["loans"] * (late if key == "late31_of_late" else 1.0)


def report(checks_: list[Check]) -> pl.DataFrame:
    """The checks as a table (simulated, reference, band, ok)."""
    return pl.DataFrame([{"metric": c.metric, "zh": c.zh, "simulated": round(c.simulated, 4),
                          "reference": round(c.reference, 4),
                          "low": None if c.low is None else round(c.low, 4),
                          "high": None if c.high is None else round(c.high, 4),
                          "ok": c.ok, "source": c.source} for c in checks_])
