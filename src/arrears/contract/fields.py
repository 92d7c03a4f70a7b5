"""The ingestion data contract: every input field, its type, its Chinese and English name, an
example. One definition drives validation (``validate``) and the documentation
(``docs/data-contract.md`` is generated from it by ``python -m arrears.contract.docs``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from arrears.book.terms import (
    AllocationScope,
    DpdGrace,
    GracePenalty,
    LenderType,
    Method,
    Overpayment,
)
from arrears.calendar import DayCount, MonthEnd
from arrears.money import MINOR_DIGITS, Rounding


class Kind(StrEnum):
    ID = "id"  # 1–64 of letters, digits, - _ . :
    TEXT = "text"
    MONEY = "money"  # decimal in major units, at most the currency's minor digits, >= 0
    RATE = "rate"  # decimal fraction, e.g. 0.18 for 18 %
    INT = "int"
    DATE = "date"  # YYYY-MM-DD
    DATETIME = "datetime"  # YYYY-MM-DD[ HH:MM[:SS]][±HH:MM]; naive = lender's local time
    CHOICE = "choice"
    BOOL = "bool"  # true/false, 1/0, yes/no, 是/否
    MOBILE = "mobile"  # mainland mobile 1[3-9]xxxxxxxxx, or +<country><number>
    ID_NUMBER = "id_number"  # 18-character resident ID with its check digit (or 15 digits)
    PERIOD = "period"  # month, quarter, week, Nm, Nd, Nw
    WATERFALL = "waterfall"  # comma list of fee, penalty, interest, principal


PERSONAL = frozenset({"name", "id_number", "mobile", "address"})
"""Fields masked in every message and log (PIPL: sensitive personal information)."""


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: Kind
    required: bool
    zh: str
    en: str
    example: str
    choices: tuple[str, ...] = ()
    default: str | None = None
    low: int | None = None  # inclusive bounds for INT
    high: int | None = None


def _c(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(e.value for e in enum)


BORROWER_FIELDS: tuple[Field, ...] = (
    Field("borrower_id", Kind.ID, True, "借款人编号", "borrower's external id", "B000123"),
    Field("name", Kind.TEXT, True, "姓名", "full name", "张三"),
    Field("id_number", Kind.ID_NUMBER, True, "身份证号", "resident identity card number",
          "110105199001011234"),
    Field("mobile", Kind.MOBILE, True, "手机号", "own mobile number", "13800138000"),
    Field("province", Kind.TEXT, True, "省份", "province (name or 6-digit division code)",
          "浙江省"),
    Field("city", Kind.TEXT, True, "城市", "city (name or 6-digit division code)", "杭州市"),
    Field("address", Kind.TEXT, True, "住址", "domicile address (户籍地址/住所)",
          "浙江省杭州市西湖区文三路1号"),
    Field("gender", Kind.CHOICE, False, "性别", "gender", "F", ("M", "F", "U")),
    Field("birth_date", Kind.DATE, False, "出生日期", "date of birth", "1990-01-01"),
    Field("email", Kind.TEXT, False, "电子邮箱", "e-mail address", "zhang@example.com"),
    Field("employer", Kind.TEXT, False, "工作单位", "employer", "某科技有限公司"),
    Field("occupation", Kind.TEXT, False, "职业", "occupation", "工程师"),
    Field("income_band", Kind.TEXT, False, "收入区间", "monthly income band", "8000-15000"),
)

LOAN_FIELDS: tuple[Field, ...] = (
    Field("loan_id", Kind.ID, True, "借据号", "loan (IOU) external id", "L000456"),
    Field("borrower_id", Kind.ID, True, "借款人编号", "borrower's id (must exist)", "B000123"),
    Field("lender_type", Kind.CHOICE, True, "出借人类型",
          "who lent — decides the legal cost cap", "consumer-finance", _c(LenderType)),
    Field("principal", Kind.MONEY, True, "借款本金", "contract principal", "10000.00"),
    Field("currency", Kind.CHOICE, True, "币种", "ISO 4217 currency", "CNY",
          tuple(MINOR_DIGITS)),
    Field("annual_rate", Kind.RATE, True, "年利率", "nominal annual contract rate (fraction)",
          "0.18"),
    Field("repayment_method", Kind.CHOICE, True, "还款方式",
          "等额本息 equal-instalment, 等额本金 equal-principal, 先息后本 interest-first, "
          "到期一次还本付息 bullet", "equal-instalment", _c(Method)),
    Field("term_count", Kind.INT, True, "期数", "number of instalments (1 for bullet)", "12",
          low=1, high=600),
    Field("period", Kind.PERIOD, True, "还款周期", "month, quarter, Nm, Nd (7d, 14d, 30d), Nw",
          "month"),
    Field("disbursed_on", Kind.DATE, True, "放款日", "disbursement date; interest runs from it",
          "2025-01-15"),
    Field("contract_signed_on", Kind.DATE, True, "合同成立日",
          "contract formation date — fixes the LPR for the legal cap", "2025-01-15"),
    Field("upfront_fee", Kind.MONEY, True, "砍头费用",
          "fee deducted from the disbursement (0 if none); Civil Code Art. 670 makes the "
          "principal the amount actually lent", "0.00"),
    Field("penalty_rate_multiplier", Kind.RATE, True, "罚息倍数",
          "penalty interest rate as a multiple of the contract rate", "1.5"),
    Field("product_code", Kind.ID, False, "产品编码",
          "a product loaded with `arrears product load`; its terms fill every optional "
          "column this row leaves empty (unknown code: quarantined)", "CASH30"),
    Field("first_due_on", Kind.DATE, False, "首期还款日",
          "first due date when the lender fixes a repayment day (broken first period)",
          "2025-02-10"),
    Field("basis", Kind.CHOICE, False, "计息基础", "day-count basis", "30/360", _c(DayCount),
          default="30/360"),
    Field("rounding", Kind.CHOICE, False, "舍入方式", "rounding mode", "half-up",
          _c(Rounding), default="half-up"),
    Field("month_end", Kind.CHOICE, False, "月末规则", "due dates in short months", "clamp",
          _c(MonthEnd), default="clamp"),
    Field("service_fee_rate", Kind.RATE, False, "服务费年费率",
          "annual service-fee rate on the original principal, charged each period", "0.00",
          default="0"),
    Field("service_fee_fixed", Kind.MONEY, False, "每期固定服务费", "fixed fee per instalment",
          "0.00", default="0"),
    Field("late_fee_fixed", Kind.MONEY, False, "滞纳金(固定)",
          "charged once when an instalment passes its grace unpaid", "0.00", default="0"),
    Field("late_fee_rate", Kind.RATE, False, "滞纳金比例",
          "share of the overdue instalment charged once at that point", "0", default="0"),
    Field("penalty_rate", Kind.RATE, False, "罚息年利率",
          "absolute annual penalty rate; overrides the multiplier", "0.27"),
    Field("penalty_on_interest", Kind.BOOL, False, "复利", "penalty also on overdue interest",
          "false", default="false"),
    Field("grace_days", Kind.INT, False, "宽限期天数", "grace days after each due date", "3",
          default="0", low=0, high=90),
    Field("grace_penalty", Kind.CHOICE, False, "宽限期罚息",
          "penalty for the grace days when the grace is exceeded", "retroactive",
          _c(GracePenalty), default="retroactive"),
    Field("dpd_grace", Kind.CHOICE, False, "逾期天数口径", "how grace enters days past due",
          "threshold", _c(DpdGrace), default="threshold"),
    Field("waterfall", Kind.WATERFALL, False, "还款冲抵顺序",
          "allocation order within an instalment", "fee,penalty,interest,principal",
          default="fee,penalty,interest,principal"),
    Field("allocation_scope", Kind.CHOICE, False, "冲抵方式",
          "instalment-first (oldest instalment in full) or component-first",
          "instalment-first", _c(AllocationScope), default="instalment-first"),
    Field("overpayment", Kind.CHOICE, False, "多付款处理",
          "credit: hold money paid ahead and apply it on the next due date (提前还当期); "
          "reduce-term / reduce-instalment: prepay principal at once. Money covering the "
          "whole payoff settles the loan under every policy", "credit", _c(Overpayment),
          default="credit"),
    Field("lender_name", Kind.TEXT, False, "出借人名称", "lender's legal name",
          "某消费金融有限公司"),
    Field("contract_no", Kind.TEXT, False, "合同编号", "contract number", "HT-2025-000456"),
)

PAYMENT_FIELDS: tuple[Field, ...] = (
    Field("payment_id", Kind.ID, True, "还款流水号", "payment's external id (idempotency key)",
          "P000789"),
    Field("loan_id", Kind.ID, True, "借据号", "loan paid (must exist)", "L000456"),
    Field("amount", Kind.MONEY, True, "还款金额", "amount received, > 0", "500.00"),
    Field("paid_at", Kind.DATETIME, True, "还款时间",
          "when the money arrived; its local date is the value date", "2025-03-20 10:15:00"),
    Field("channel", Kind.TEXT, True, "还款渠道", "payment channel", "bank-transfer"),
    Field("currency", Kind.CHOICE, False, "币种", "must equal the loan's currency", "CNY",
          tuple(MINOR_DIGITS)),
)

CONTRACTS: dict[str, tuple[Field, ...]] = {
    "borrowers": BORROWER_FIELDS,
    "loans": LOAN_FIELDS,
    "payments": PAYMENT_FIELDS,
}
KEYS = {"borrowers": "borrower_id", "loans": "loan_id", "payments": "payment_id"}


def detect_kind(columns: list[str]) -> str | None:
    """Which contract a file follows, from its header."""
    cols = set(columns)
    if "payment_id" in cols:
        return "payments"
    if "loan_id" in cols and "principal" in cols:
        return "loans"
    if "borrower_id" in cols and "id_number" in cols:
        return "borrowers"
    return None
