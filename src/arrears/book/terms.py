"""Loan terms: what a product and a contract fix about repayment, charges and allocation."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from arrears.calendar import DayCount, MonthEnd, Period, PeriodUnit
from arrears.money import Rounding


class Method(StrEnum):
    """Repayment method (还款方式)."""

    EQUAL_INSTALMENT = "equal-instalment"  # 等额本息
    EQUAL_PRINCIPAL = "equal-principal"  # 等额本金
    INTEREST_FIRST = "interest-first"  # 先息后本
    BULLET = "bullet"  # 到期一次还本付息


class Component(StrEnum):
    """Receivable components of a loan, each with its own ledger account."""

    FEE = "fee"  # service fees and late fees (费用)
    PENALTY = "penalty"  # penalty interest (罚息)
    INTEREST = "interest"  # contract interest (利息)
    PRINCIPAL = "principal"  # 本金


COMPONENTS: tuple[Component, ...] = tuple(Component)


class LenderType(StrEnum):
    """Who lent: decides which legal cost cap applies (CN.md §1)."""

    INDIVIDUAL = "individual"  # natural person
    PRIVATE = "private"  # unlicensed company
    P2P = "p2p"  # P2P-era platform lending
    BANK = "bank"
    CONSUMER_FINANCE = "consumer-finance"  # 消费金融公司
    TRUST = "trust"
    LICENSED = "licensed"  # any other licensed financial institution
    MICROLOAN = "microloan"  # 小额贷款公司 (local financial organisation)


class AllocationScope(StrEnum):
    """Order in which a payment walks the receivables (Fineract calls these horizontal/vertical)."""

    INSTALMENT_FIRST = "instalment-first"  # oldest instalment in full, then the next
    COMPONENT_FIRST = "component-first"  # first component across all due instalments, then the next


class Overpayment(StrEnum):
    """Where money beyond everything due goes. Whatever the policy, money that covers the
    whole payoff (本息结清) settles the loan at once."""

    CREDIT = "credit"  # hold it (提前还当期) and apply it when the next instalment falls due
    REDUCE_TERM = "reduce-term"  # prepay principal, keep the instalment amount, end earlier
    REDUCE_INSTALMENT = "reduce-instalment"  # prepay principal, keep the end date, pay less


class GracePenalty(StrEnum):
    """Penalty interest for the days of the grace period, when the grace is exceeded."""

    RETROACTIVE = "retroactive"  # 超过宽限期的，自应还款日起计收罚息
    FORGIVEN = "forgiven"  # penalty only from the first day after the grace period


class DpdGrace(StrEnum):
    """How grace days enter days past due."""

    THRESHOLD = "threshold"  # within grace dpd = 0; beyond it dpd counts from the due date
    SUBTRACT = "subtract"  # dpd = days past due − grace days (Fineract's delinquent days)


DEFAULT_WATERFALL: tuple[Component, ...] = (
    Component.FEE,
    Component.PENALTY,
    Component.INTEREST,
    Component.PRINCIPAL,
)  # Civil Code Art. 561: costs → interest → principal, unless the contract says otherwise


@dataclass(frozen=True, slots=True)
class Waterfall:
    """Payment allocation order, configured per product."""

    order: tuple[Component, ...] = DEFAULT_WATERFALL
    scope: AllocationScope = AllocationScope.INSTALMENT_FIRST

    def __post_init__(self) -> None:
        if sorted(self.order) != sorted(COMPONENTS):
            raise ValueError(f"a waterfall must list each component once, got {self.order}")


@dataclass(frozen=True, slots=True)
class LoanTerms:
    """Everything about a loan that the schedule and the engine depend on.

    Amounts are minor units of ``currency``; rates are annual ``Decimal`` fractions.
    """

    principal: int  # contract principal (借款金额)
    annual_rate: Decimal  # nominal annual contract rate
    method: Method
    term_count: int
    period: Period
    start: date  # disbursement date; interest runs from here
    currency: str = "CNY"
    first_due: date | None = None  # fixed repayment day (broken first period)
    basis: DayCount = DayCount.D30_360
    rounding: Rounding = Rounding.HALF_UP
    month_end: MonthEnd = MonthEnd.CLAMP
    upfront_fee: int = 0  # deducted from the disbursement (砍头息 — see Civil Code Art. 670)
    service_fee_rate: Decimal = Decimal(0)  # annual, on the original principal, charged per period
    service_fee_fixed: int = 0  # per instalment
    late_fee_fixed: int = 0  # once per instalment that passes its grace unpaid
    late_fee_rate: Decimal = Decimal(0)  # of the instalment amount overdue at that point
    penalty_multiplier: Decimal = Decimal("1.5")  # 罚息 = contract rate × multiplier ...
    penalty_rate: Decimal | None = None  # ... unless an absolute annual penalty rate is set
    penalty_on_interest: bool = False  # compound: penalty also on overdue interest (复利)
    grace_days: int = 0
    grace_penalty: GracePenalty = GracePenalty.RETROACTIVE
    dpd_grace: DpdGrace = DpdGrace.THRESHOLD
    waterfall: Waterfall = field(default_factory=Waterfall)
    overpayment: Overpayment = Overpayment.CREDIT

    def __post_init__(self) -> None:
        # terms read from files, JSON or the database may carry plain strings: coerce them, or
        # an ``is`` comparison on a mode would silently take the wrong branch
        for name, kind in _ENUM_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, kind):
                object.__setattr__(self, name, kind(value))
        if self.principal <= 0:
            raise ValueError("principal must be positive")
        if self.term_count < 1:
            raise ValueError("term_count must be at least 1")
        if self.annual_rate < 0:
            raise ValueError("annual_rate must not be negative")
        if not 0 <= self.upfront_fee < self.principal:
            raise ValueError("upfront_fee must be at least 0 and less than the principal")
        if self.grace_days < 0:
            raise ValueError("grace_days must not be negative")

    @property
    def penalty_annual_rate(self) -> Decimal:
        if self.penalty_rate is not None:
            return self.penalty_rate
        return self.annual_rate * self.penalty_multiplier

    @property
    def net_disbursed(self) -> int:
        """The amount actually lent — the legal principal under Civil Code Art. 670."""
        return self.principal - self.upfront_fee

    @property
    def periods_per_year(self) -> Decimal:
        py = self.period.per_year
        return Decimal(py.numerator) / Decimal(py.denominator)

    def with_(self, **changes: object) -> LoanTerms:
        return replace(self, **changes)  # type: ignore[arg-type]

    @property
    def is_day_period(self) -> bool:
        return self.period.unit is PeriodUnit.DAY


_ENUM_FIELDS: tuple[tuple[str, type], ...] = (
    ("method", Method), ("basis", DayCount), ("rounding", Rounding), ("month_end", MonthEnd),
    ("grace_penalty", GracePenalty), ("dpd_grace", DpdGrace), ("overpayment", Overpayment),
)
