"""A small built-in sample book for ``arrears demo`` — deterministic for a seed.

Not the borrower simulator (that is its own package): just enough of a realistic online-lender
book to exercise ingestion, the ledger and reporting — a product mix of cash, instalment and
credit loans from licensed and private lenders, borrowers who pay on time, late, partly, or
stop paying. It writes the ingestion data contract (CSV files) and nothing else.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from arrears.book.schedule import build_schedule
from arrears.book.terms import LoanTerms, Method
from arrears.calendar import Period
from arrears.money import fmt

# real administrative division codes (GB/T 2260) with their province and city names
REGIONS = (
    ("330106", "浙江省", "杭州市", "西湖区文三路"),
    ("440305", "广东省", "深圳市", "南山区科技园路"),
    ("110105", "北京市", "北京市", "朝阳区建国路"),
    ("310104", "上海市", "上海市", "徐汇区漕溪北路"),
    ("510104", "四川省", "成都市", "锦江区春熙路"),
    ("410102", "河南省", "郑州市", "中原区建设路"),
    ("420106", "湖北省", "武汉市", "武昌区中南路"),
    ("320102", "江苏省", "南京市", "玄武区中山路"),
    ("350203", "福建省", "厦门市", "思明区湖滨南路"),
    ("610113", "陕西省", "西安市", "雁塔区小寨路"),
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华"
_W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(region: str, born: date, seq: int, female: bool) -> str:
    """A well-formed 18-character resident ID (GB 11643) with its check digit."""
    order = seq % 500 * 2 + (0 if female else 1)
    body = f"{region}{born:%Y%m%d}{order:03d}"
    total = sum(int(d) * w for d, w in zip(body, _W, strict=True))
    return body + "10X98765432"[total % 11]


@dataclass(frozen=True, slots=True)
class SampleFiles:
    borrowers: Path
    loans: Path
    payments: Path
    as_of: date
    loans_count: int
    payments_count: int


CASH_LENDERS = ("consumer-finance", "microloan")
PRODUCTS = (  # (weight, method, period, terms, principal range (yuan), rate range, lenders)
    (30, Method.BULLET, "14d", (1,), (500, 5000), ("0.18", "0.24"), CASH_LENDERS),
    (10, Method.BULLET, "30d", (1,), (1000, 5000), ("0.12", "0.18"), ("private", "p2p")),
    (35, Method.EQUAL_INSTALMENT, "month", (3, 6, 12), (3000, 50000), ("0.10", "0.24"),
     ("consumer-finance", "bank", "microloan")),
    (15, Method.EQUAL_PRINCIPAL, "month", (12, 24), (20000, 200000), ("0.06", "0.15"),
     ("bank",)),
    (10, Method.INTEREST_FIRST, "month", (6, 12), (10000, 100000), ("0.08", "0.16"),
     ("consumer-finance", "private")),
)
BEHAVIOURS = (("on-time", 78), ("late", 10), ("stops", 8), ("partial", 4))


def _pick(rng: random.Random, items: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([i[0] for i in items], weights=[i[1] for i in items])[0]


def write_sample(folder: Path, seed: int = 1, borrowers: int = 600,
                 as_of: date = date(2026, 6, 30)) -> SampleFiles:
    """Write borrowers.csv, loans.csv and payments.csv for a sample book ending ``as_of``."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = f"S{seed}"
    b_rows, l_rows, p_rows = [], [], []
    for i in range(1, borrowers + 1):
        region, prov, city, street = rng.choice(REGIONS)
        female = rng.random() < 0.45
        born = date(rng.randint(1965, 2003), rng.randint(1, 12), rng.randint(1, 28))
        bid = f"{prefix}-B{i:06d}"
        b_rows.append({
            "borrower_id": bid,
            "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.randint(1, 2))),
            "id_number": id_number(region, born, i, female),
            "mobile": f"1{rng.choice('3456789')}{rng.randint(0, 999999999):09d}",
            "province": prov, "city": city,
            "address": f"{prov}{city}{street}{rng.randint(1, 300)}号",
            "gender": "F" if female else "M", "birth_date": born.isoformat(),
        })
        behaviour = _pick(rng, BEHAVIOURS)
        for k in range(rng.choices((1, 2, 3), weights=(70, 22, 8))[0]):
            lid = f"{prefix}-L{i:06d}{k}"
            terms, row = _loan(rng, lid, bid, as_of)
            l_rows.append(row)
            p_rows.extend(_payments(rng, lid, terms, behaviour, as_of))
    paths = [folder / "borrowers.csv", folder / "loans.csv", folder / "payments.csv"]
    for path, rows in zip(paths, (b_rows, l_rows, p_rows), strict=True):
        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return SampleFiles(paths[0], paths[1], paths[2], as_of, len(l_rows), len(p_rows))


def _loan(rng: random.Random, lid: str, bid: str,
          as_of: date) -> tuple[LoanTerms, dict[str, str]]:
    weights = [p[0] for p in PRODUCTS]
    _, method, period, term_opts, (lo, hi), (rlo, rhi), lenders = rng.choices(PRODUCTS, weights)[0]
    terms_n = rng.choice(term_opts)
    start = as_of - timedelta(days=rng.randint(20, 450))
    principal = rng.randint(lo // 100, hi // 100) * 10000  # whole hundreds of yuan, in fen
    rate = (Decimal(rlo) + (Decimal(rhi) - Decimal(rlo)) * Decimal(rng.randint(0, 100)) / 100
            ).quantize(Decimal("0.0001"))
    # upfront fees only on instalment products: on a 14-day cash loan even 1 % is an
    # annualised cost far above any cap
    upfront = 0 if method is Method.BULLET else principal * rng.choice((0, 0, 0, 1, 2)) // 100
    lender = rng.choice(lenders)
    terms = LoanTerms(principal=principal, annual_rate=rate, method=method, term_count=terms_n,
                      period=Period.parse(period), start=start, upfront_fee=upfront,
                      grace_days=rng.choice((0, 3)), late_fee_fixed=rng.choice((0, 0, 2000)))
    row = {
        "loan_id": lid, "borrower_id": bid, "lender_type": lender,
        "principal": fmt(principal), "currency": "CNY", "annual_rate": str(rate),
        "repayment_method": method.value, "term_count": str(terms_n), "period": period,
        "disbursed_on": start.isoformat(), "contract_signed_on": start.isoformat(),
        "upfront_fee": fmt(upfront), "penalty_rate_multiplier": "1.5",
        "grace_days": str(terms.grace_days), "late_fee_fixed": fmt(terms.late_fee_fixed),
    }
    return terms, row


def _payments(rng: random.Random, lid: str, terms: LoanTerms, behaviour: str,
              as_of: date) -> list[dict[str, str]]:
    rows = []
    stop_after = rng.randint(0, terms.term_count - 1) if behaviour == "stops" else None
    for inst in build_schedule(terms).instalments:
        if stop_after is not None and inst.n > stop_after:
            break
        if behaviour == "late" and rng.random() < 0.6:
            delay = rng.randint(4, 45)
            extra = inst.total * Decimal("0.03")
        else:
            delay = rng.randint(-3, 0)  # on or a little before the due date: held, then applied
            extra = Decimal(0)
        paid_on = inst.due_on + timedelta(days=delay)
        if paid_on > as_of:
            break
        amount = inst.total + int(extra)
        if behaviour == "partial" and rng.random() < 0.5:
            amount = amount * rng.randint(30, 80) // 100
        at = datetime.combine(paid_on, time(rng.randint(8, 21), rng.randint(0, 59)))
        rows.append({"payment_id": f"{lid}-P{inst.n:03d}", "loan_id": lid,
                     "amount": fmt(max(amount, 1)), "paid_at": at.isoformat(sep=" "),
                     "channel": rng.choice(("bank-transfer", "alipay", "wechat-pay",
                                            "auto-debit"))})
    return rows
