"""``arrears calc …`` — calculators for people and scripts: schedule, APR, legal cost cap,
limitation deadline.

Thin: parse the options (bad values exit 2 with a message naming the option), call the pure
core (``book.schedule``, ``book.apr``, ``book.caps``, ``book.limitation``, the rule pack),
render a Rich table or ``--json`` (money as yuan strings, rates as decimal-fraction strings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from arrears.book.apr import Apr, AprError, apr_of_flows, apr_of_loan
from arrears.book.caps import CapCheck, check_cost_cap
from arrears.book.limitation import Limitation, limitation_deadline
from arrears.book.schedule import Schedule, build_schedule
from arrears.book.terms import LenderType, LoanTerms, Method
from arrears.calendar import DayCount, MonthEnd, Period
from arrears.cli.output import console, emit_json, err_console
from arrears.money import MoneyError, Rounding, fmt, to_minor
from arrears.rules.cost_cap import CapSegment, CostCap
from arrears.rules.errors import PackError, RuleError
from arrears.rules.lpr import pct
from arrears.rules.pack import RulePack, load_pack
from arrears.settings import load_settings

app = typer.Typer(no_args_is_help=True,
                  help="Calculators: schedules, APR, legal caps, limitation (计算器).")

E = TypeVar("E", bound=StrEnum)

MAX_RATE = Decimal(10)  # 1000 % a year: anything above is surely a percent typed as a fraction


# --- option parsing (every failure is a BadParameter: exit code 2, no traceback) ------------


def _choice(kind: type[E], value: str, option: str) -> E:
    try:
        return kind(value.strip().lower() if option != "--basis" else value.strip().upper())
    except ValueError:
        choices = ", ".join(k.value for k in kind)
        raise typer.BadParameter(f"{value!r} is not one of: {choices}",
                                 param_hint=option) from None


def _day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)",
                                 param_hint=option) from None


def _money(value: str, option: str, currency: str, positive: bool = False) -> int:
    try:
        minor = to_minor(value.strip().replace(",", ""), currency)
    except MoneyError as e:
        raise typer.BadParameter(str(e), param_hint=option) from None
    if minor < 0 or (positive and minor == 0):
        raise typer.BadParameter(f"{value} must be {'positive' if positive else 'at least 0'}",
                                 param_hint=option)
    return minor


def _rate(value: str, option: str) -> Decimal:
    try:
        d = Decimal(value.strip())
    except InvalidOperation:
        raise typer.BadParameter(f"{value!r} is not a decimal fraction such as 0.18",
                                 param_hint=option) from None
    if not d.is_finite() or d < 0:
        raise typer.BadParameter(f"{value!r} must be a fraction at least 0", param_hint=option)
    if d >= MAX_RATE:
        raise typer.BadParameter(f"{value} looks like a percent; give a fraction (18 % → 0.18)",
                                 param_hint=option)
    return d


def _period(value: str) -> Period:
    try:
        return Period.parse(value)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--period") from None


def _pack(code: str) -> RulePack:
    """The rule pack with the workspace overlay; a broken pack or overlay exits 1, cleanly."""
    try:
        return load_pack(code, load_settings().rules_dir / code.strip().upper())
    except PackError as e:
        if "no rule pack" in str(e):
            raise typer.BadParameter(str(e), param_hint="--pack") from None
        err_console.print(f"error: {e}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _guard(fn: Callable[[], Any], option: str) -> Any:
    """Run ``fn``; a rule that cannot answer for these options becomes a BadParameter."""
    try:
        return fn()
    except (RuleError, AprError, ValueError) as e:
        if isinstance(e, PackError):
            raise
        raise typer.BadParameter(str(e), param_hint=option) from None


# --- shared loan options ------------------------------------------------------------------------

MethodOpt = Annotated[str, typer.Option(
    "--method", help="equal-instalment (等额本息) | equal-principal (等额本金) | "
    "interest-first (先息后本) | bullet (到期一次还本付息).")]
PrincipalOpt = Annotated[str | None, typer.Option(
    "--principal", help="Contract principal in yuan, e.g. 10000.00.")]
RateOpt = Annotated[str | None, typer.Option(
    "--annual-rate", help="Nominal annual contract rate as a fraction, e.g. 0.18.")]
TermsOpt = Annotated[int | None, typer.Option("--terms", min=1, help="Number of instalments.")]
PeriodOpt = Annotated[str, typer.Option(
    "--period", help="Repayment period: month, quarter, week, Nm, Nd (7d, 14d …), Nw.")]
StartOpt = Annotated[str | None, typer.Option(
    "--start", help="Disbursement date (interest runs from here), YYYY-MM-DD.")]
BasisOpt = Annotated[str, typer.Option(
    "--basis", help="Day count: 30/360 | ACT/365 | ACT/360 | ACT/364 | ACT/ACT.")]
FirstDueOpt = Annotated[str | None, typer.Option(
    "--first-due", help="First due date (fixed repayment day; the first period may be broken).")]
UpfrontOpt = Annotated[str, typer.Option(
    "--upfront-fee", help="Fee deducted from the disbursement, in yuan (砍头息).")]
ServiceOpt = Annotated[str, typer.Option(
    "--service-fee-rate", help="Annual service fee on the original principal, as a fraction.")]
RoundingOpt = Annotated[str, typer.Option(
    "--rounding", help="half-up | half-even | down | up | floor | ceiling.")]
MonthEndOpt = Annotated[str, typer.Option(
    "--month-end", help="clamp (keep the day, clamp to month end) | month-end (stay on ends).")]
CurrencyOpt = Annotated[str, typer.Option("--currency", help="Currency of the amounts.")]
LenderOpt = Annotated[str | None, typer.Option(
    "--lender-type", help="private | individual | p2p | bank | consumer-finance | trust | "
    "licensed | microloan — decides the legal cap.")]
FormedOpt = Annotated[str | None, typer.Option(
    "--formed", help="Contract formation date (合同成立日), YYYY-MM-DD: the cap's LPR date.")]
FiledOpt = Annotated[str | None, typer.Option(
    "--filed", help="Filing date (起诉日), for loans formed before 2020-08-20 (Art. 31).")]
PackOpt = Annotated[str, typer.Option("--pack", help="Rule pack (jurisdiction) code.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@dataclass(frozen=True)
class LoanOptions:
    method: str
    principal: str | None
    annual_rate: str | None
    terms: int | None
    period: str
    start: str | None
    basis: str
    first_due: str | None
    upfront_fee: str
    service_fee_rate: str
    rounding: str
    month_end: str
    currency: str

    def given(self) -> bool:
        return any(v is not None for v in (self.principal, self.annual_rate, self.terms,
                                           self.start))

    def terms_(self) -> LoanTerms:
        missing = [o for o, v in (("--principal", self.principal),
                                  ("--annual-rate", self.annual_rate),
                                  ("--terms", self.terms), ("--start", self.start))
                   if v is None]
        if missing:
            raise typer.BadParameter("the loan needs " + ", ".join(missing),
                                     param_hint=", ".join(missing))
        assert self.principal is not None and self.annual_rate is not None
        assert self.terms is not None and self.start is not None
        cur = self.currency.strip().upper()
        try:
            to_minor(0, cur)
        except MoneyError as e:
            raise typer.BadParameter(str(e), param_hint="--currency") from None
        principal = _money(self.principal, "--principal", cur, positive=True)
        fee = _money(self.upfront_fee, "--upfront-fee", cur)
        if fee >= principal:
            raise typer.BadParameter("must be less than the principal",
                                     param_hint="--upfront-fee")
        start = _day(self.start, "--start")
        first_due = None if self.first_due is None else _day(self.first_due, "--first-due")
        if first_due is not None and first_due <= start:
            raise typer.BadParameter(f"{first_due} is not after the start {start}",
                                     param_hint="--first-due")
        terms: LoanTerms = _guard(lambda: LoanTerms(
            principal=principal,
            annual_rate=_rate(self.annual_rate or "", "--annual-rate"),
            method=_choice(Method, self.method, "--method"),
            term_count=self.terms or 0,
            period=_period(self.period),
            start=start,
            currency=cur,
            first_due=first_due,
            basis=_choice(DayCount, self.basis, "--basis"),
            rounding=_choice(Rounding, self.rounding, "--rounding"),
            month_end=_choice(MonthEnd, self.month_end, "--month-end"),
            upfront_fee=fee,
            service_fee_rate=_rate(self.service_fee_rate, "--service-fee-rate"),
        ), "--principal")
        return terms


# --- JSON shapes ---------------------------------------------------------------------------------


def _frac(rate: Decimal) -> str:
    """A computed rate as a plain decimal-fraction string, all its places kept."""
    return f"{rate:f}"


def _plain(rate: Decimal) -> str:
    """A rate from the rules (cap, LPR) without trailing zeros: 0.1380 → "0.138"."""
    return f"{rate.normalize():f}"


def apr_json(apr: Apr) -> dict[str, Any]:
    py = apr.periods_per_year
    return {"periodic_irr": _frac(apr.periodic_irr), "nominal_apr": _frac(apr.nominal_apr),
            "effective_annual_rate": _frac(apr.effective_annual_rate),
            "periods_per_year": str(py.numerator) if py.denominator == 1 else str(py),
            "method": apr.method, "basis": apr.basis}


def segment_json(s: CapSegment) -> dict[str, Any]:
    return {
        "start": s.start.isoformat(),
        "end": None if s.end is None else s.end.isoformat(),  # exclusive
        "last_day": None if s.last_day is None else s.last_day.isoformat(),
        "rate": _plain(s.rate),
        "void_above": None if s.void_above is None else _plain(s.void_above),
        "regime": s.regime,
        "lpr_1y": None if s.lpr is None else _plain(s.lpr.one_year),
        "lpr_fixing_date": None if s.lpr is None else s.lpr.effective_date.isoformat(),
        "basis": s.basis,
    }


def cap_json(cap: CostCap, pack: str) -> dict[str, Any]:
    return {"pack": pack, "lender_type": cap.lender_type.value,
            "formed_on": cap.formed_on.isoformat(),
            "filed_on": None if cap.filed_on is None else cap.filed_on.isoformat(),
            "cap_rate": _plain(cap.rate), "regime": cap.regime, "basis": cap.basis,
            "segments": [segment_json(s) for s in cap.segments]}


def check_json(chk: CapCheck, pack: str) -> dict[str, Any]:
    return {"cap_rate": _plain(chk.cap), "all_in": _frac(chk.all_in),
            "excess": _frac(chk.excess), "within": chk.within, "basis": chk.basis,
            "cap": cap_json(chk.cost_cap, pack)}


def limitation_json(lim: Limitation, pack: str, region: str | None) -> dict[str, Any]:
    return {"pack": pack, "region": region, "deadline": lim.deadline.isoformat(),
            "start": lim.start.isoformat(), "restarted_by": lim.restarted_by,
            "reason": lim.reason,
            "long_stop": None if lim.long_stop is None else lim.long_stop.isoformat(),
            "late_event": None if lim.late_event is None else
            {"kind": lim.late_event[0], "on": lim.late_event[1].isoformat()}}


def schedule_json(terms: LoanTerms, schedule: Schedule) -> dict[str, Any]:
    cur = terms.currency
    return {
        "loan": {
            "method": terms.method.value, "principal": fmt(terms.principal, cur),
            "annual_rate": _frac(terms.annual_rate), "terms": terms.term_count,
            "period": str(terms.period), "start": terms.start.isoformat(),
            "first_due": None if terms.first_due is None else terms.first_due.isoformat(),
            "basis": terms.basis.value, "rounding": terms.rounding.value,
            "month_end": terms.month_end.value, "currency": cur,
            "upfront_fee": fmt(terms.upfront_fee, cur),
            "net_disbursed": fmt(terms.net_disbursed, cur),
            "service_fee_rate": _frac(terms.service_fee_rate),
        },
        "instalments": [
            {"n": i.n, "start_on": i.start_on.isoformat(), "due_on": i.due_on.isoformat(),
             "principal": fmt(i.principal, cur), "interest": fmt(i.interest, cur),
             "fee": fmt(i.fee, cur), "total": fmt(i.total, cur)}
            for i in schedule.instalments
        ],
        "totals": {"principal": fmt(schedule.principal, cur),
                   "interest": fmt(schedule.interest, cur), "fee": fmt(schedule.fee, cur),
                   "total": fmt(schedule.total, cur)},
    }


# --- rendering for people ------------------------------------------------------------------------


def _print_apr(apr: Apr) -> None:
    console.print(f"APR ({apr.method}): periodic {pct(apr.periodic_irr)}, nominal "
                  f"{pct(apr.nominal_apr)}, effective annual {pct(apr.effective_annual_rate)}")
    console.print(apr.basis, markup=False, highlight=False, style="dim")


def _print_cap(cap: CostCap) -> None:
    table = Table(title=f"Cost cap {pct(cap.rate)} [{cap.regime}]")
    for col in ("from", "to", "cap", "void above", "regime"):
        table.add_column(col)
    for s in cap.segments:
        table.add_row(s.start.isoformat(), s.last_day.isoformat() if s.last_day else "…",
                      pct(s.rate), pct(s.void_above) if s.void_above else "", s.regime)
    console.print(table)
    console.print(cap.basis, markup=False, highlight=False)


def _print_check(chk: CapCheck) -> None:
    colour = "green" if chk.within else "red"
    verdict = "within the cap" if chk.within else f"OVER the cap by {pct(chk.excess)}"
    console.print(f"[{colour}]All-in {pct(chk.all_in)} vs cap {pct(chk.cap)}: {verdict}"
                  f"[/{colour}]")
    console.print(chk.cost_cap.basis, markup=False, highlight=False, style="dim")


def _print_schedule(terms: LoanTerms, schedule: Schedule) -> None:
    cur = terms.currency
    table = Table(title=f"{terms.method.value} · {fmt(terms.principal, cur)} {cur} · "
                        f"{pct(terms.annual_rate)} · {terms.term_count} × {terms.period}")
    for col in ("n", "start", "due", "principal", "interest", "fee", "total"):
        table.add_column(col, justify="right" if col not in ("start", "due") else "left")
    for i in schedule.instalments:
        table.add_row(str(i.n), i.start_on.isoformat(), i.due_on.isoformat(),
                      fmt(i.principal, cur), fmt(i.interest, cur), fmt(i.fee, cur),
                      fmt(i.total, cur))
    table.add_row("", "", "total", fmt(schedule.principal, cur), fmt(schedule.interest, cur),
                  fmt(schedule.fee, cur), fmt(schedule.total, cur), style="bold")
    console.print(table)
    if terms.upfront_fee:
        console.print(f"Upfront fee {fmt(terms.upfront_fee, cur)} deducted: net disbursed "
                      f"{fmt(terms.net_disbursed, cur)}")


def _pack_with_caps(code: str) -> RulePack:
    pack = _pack(code)
    if pack.caps.not_applicable is not None:
        raise typer.BadParameter(f"rule pack {pack.code} has no cost caps: "
                                 f"{pack.caps.not_applicable}", param_hint="--pack")
    return pack


def _cap_check(terms: LoanTerms, lender: str | None, formed: str | None, filed: str | None,
               pack_code: str) -> tuple[CapCheck, str] | None:
    if lender is None and formed is None:
        if filed is not None:
            raise typer.BadParameter("--filed needs --lender-type and --formed",
                                     param_hint="--filed")
        return None
    if lender is None or formed is None:
        raise typer.BadParameter("the cap check needs both --lender-type and --formed",
                                 param_hint="--lender-type/--formed")
    lender_type = _choice(LenderType, lender, "--lender-type")
    formed_on = _day(formed, "--formed")
    filed_on = None if filed is None else _day(filed, "--filed")
    pack = _pack_with_caps(pack_code)
    chk: CapCheck = _guard(lambda: check_cost_cap(terms, lender_type, formed_on, pack, filed_on),
                           "--formed")
    return chk, pack.code


# --- commands ------------------------------------------------------------------------------------


@app.command()
def schedule(
    principal: PrincipalOpt = None,
    annual_rate: RateOpt = None,
    terms: TermsOpt = None,
    start: StartOpt = None,
    method: MethodOpt = Method.EQUAL_INSTALMENT.value,
    period: PeriodOpt = "month",
    basis: BasisOpt = DayCount.D30_360.value,
    first_due: FirstDueOpt = None,
    upfront_fee: UpfrontOpt = "0",
    service_fee_rate: ServiceOpt = "0",
    rounding: RoundingOpt = Rounding.HALF_UP.value,
    month_end: MonthEndOpt = MonthEnd.CLAMP.value,
    currency: CurrencyOpt = "CNY",
    lender_type: LenderOpt = None,
    formed: FormedOpt = None,
    filed: FiledOpt = None,
    pack: PackOpt = "CN",
    json: JsonOpt = False,
) -> None:
    """The repayment schedule (还款计划) of a loan, its APR (IRR method) and, with
    --lender-type and --formed, its legal cost-cap check."""
    loan = LoanOptions(method, principal, annual_rate, terms, period, start, basis, first_due,
                       upfront_fee, service_fee_rate, rounding, month_end, currency).terms_()
    sched = build_schedule(loan)
    apr: Apr = _guard(lambda: apr_of_loan(loan), "--annual-rate")
    check = _cap_check(loan, lender_type, formed, filed, pack)
    if json:
        out = schedule_json(loan, sched)
        out["apr"] = apr_json(apr)
        if check is not None:
            out["cap_check"] = check_json(*check)
        emit_json(out)
        return
    _print_schedule(loan, sched)
    _print_apr(apr)
    if check is not None:
        _print_check(check[0])


@app.command()
def apr(
    principal: PrincipalOpt = None,
    annual_rate: RateOpt = None,
    terms: TermsOpt = None,
    start: StartOpt = None,
    method: MethodOpt = Method.EQUAL_INSTALMENT.value,
    period: PeriodOpt = "month",
    basis: BasisOpt = DayCount.D30_360.value,
    first_due: FirstDueOpt = None,
    upfront_fee: UpfrontOpt = "0",
    service_fee_rate: ServiceOpt = "0",
    rounding: RoundingOpt = Rounding.HALF_UP.value,
    month_end: MonthEndOpt = MonthEnd.CLAMP.value,
    currency: CurrencyOpt = "CNY",
    disbursed: Annotated[str | None, typer.Option(
        "--disbursed", help="Explicit flows: amount actually received, in yuan.")] = None,
    payment: Annotated[str | None, typer.Option(
        "--payment", help="Explicit flows: the level payment per period, in yuan.")] = None,
    count: Annotated[int | None, typer.Option(
        "--count", min=1, help="Explicit flows: number of payments.")] = None,
    json: JsonOpt = False,
) -> None:
    """Annualised cost (年化利率) by the IRR method (PBOC 〔2021〕No.3): from loan options,
    or from explicit flows --disbursed/--payment/--count/--period."""
    loan_opts = LoanOptions(method, principal, annual_rate, terms, period, start, basis,
                            first_due, upfront_fee, service_fee_rate, rounding, month_end,
                            currency)
    flows_given = [o for o, v in (("--disbursed", disbursed), ("--payment", payment),
                                  ("--count", count)) if v is not None]
    if flows_given and loan_opts.given():
        raise typer.BadParameter("give either the loan options or explicit flows, not both",
                                 param_hint="--disbursed/--principal")
    if flows_given:
        if disbursed is None or payment is None or count is None:
            raise typer.BadParameter("explicit flows need --disbursed, --payment and --count",
                                     param_hint="--disbursed/--payment/--count")
        cur = currency.strip().upper()
        out: Apr = _guard(lambda: apr_of_flows(
            _money(disbursed, "--disbursed", cur, positive=True),
            _money(payment, "--payment", cur, positive=True), count, _period(period), cur),
            "--payment")
    elif loan_opts.given():
        loan = loan_opts.terms_()
        out = _guard(lambda: apr_of_loan(loan), "--annual-rate")
    else:
        raise typer.BadParameter("give the loan (--principal --annual-rate --terms --start) "
                                 "or explicit flows (--disbursed --payment --count)",
                                 param_hint="--principal/--disbursed")
    if json:
        emit_json(apr_json(out))
    else:
        _print_apr(out)


@app.command()
def cap(
    lender_type: Annotated[str, typer.Option(
        "--lender-type", help="private | individual | p2p | bank | consumer-finance | trust | "
        "licensed | microloan.")],
    formed: Annotated[str, typer.Option(
        "--formed", help="Contract formation date (合同成立日), YYYY-MM-DD.")],
    filed: FiledOpt = None,
    pack: PackOpt = "CN",
    json: JsonOpt = False,
) -> None:
    """The legal all-in cost cap (利率保护上限) for a lender type and formation date, with its
    basis in words and, for Art. 31 transitional loans, the segments."""
    lt = _choice(LenderType, lender_type, "--lender-type")
    formed_on = _day(formed, "--formed")
    filed_on = None if filed is None else _day(filed, "--filed")
    rules = _pack_with_caps(pack)
    result: CostCap = _guard(lambda: rules.cost_cap(lt, formed_on, filed_on), "--formed")
    if json:
        emit_json(cap_json(result, rules.code))
    else:
        _print_cap(result)


@app.command()
def limitation(
    last_due: Annotated[str, typer.Option(
        "--last-due", help="Due date of the last instalment (最后一期到期日), YYYY-MM-DD.")],
    event: Annotated[list[str] | None, typer.Option(
        "--event", help="An interrupting event KIND:DATE, e.g. payment:2027-01-15 (repeat the "
        "option for more). Kinds: see the pack (CN: demand-delivered, auto-debit, payment, "
        "promise, plan, filing, payment-order, enforcement-application, mediation-request).")
    ] = None,
    first_default: Annotated[str | None, typer.Option(
        "--first-default", help="Due date of the first instalment left unpaid: starts the "
        "20-year long stop (CN), or the period itself where the rules say so (US).")] = None,
    pack: Annotated[str, typer.Option(
        "--pack", "--jurisdiction", help="Rule pack (jurisdiction) code.")] = "CN",
    region: Annotated[str | None, typer.Option(
        "--region", help="Region of the pack whose rules apply, e.g. a US state (CA, NY …).")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """The limitation deadline (诉讼时效届满日): 3 years (CN) from the last instalment's due
    date, restarted by each interrupting event, with the reason and its legal basis."""
    last = _day(last_due, "--last-due")
    first = None if first_default is None else _day(first_default, "--first-default")
    events: list[tuple[str, date]] = []
    for raw in event or []:
        kind, sep, day = raw.strip().rpartition(":")
        if not sep or not kind:
            raise typer.BadParameter(f"{raw!r} is not KIND:DATE, e.g. payment:2027-01-15",
                                     param_hint="--event")
        events.append((kind.strip().lower(), _day(day, "--event")))
    rules_pack = _pack(pack)
    rules = _guard(lambda: rules_pack.limitation.rules(region), "--region")
    result: Limitation = _guard(lambda: limitation_deadline(last, events, rules, first),
                                "--event" if events else "--first-default")
    if json:
        emit_json(limitation_json(result, rules_pack.code, rules.region))
        return
    console.print(f"Limitation deadline 诉讼时效届满日: [bold]{result.deadline}[/bold]"
                  f" (running from {result.start}"
                  f"{'' if result.restarted_by is None else ', ' + result.restarted_by})")
    console.print(result.reason, markup=False, highlight=False)
