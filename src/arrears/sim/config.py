"""Every knob of the simulator in one validated model (``default.yaml`` holds the defaults).

``load_config()`` reads the shipped defaults; ``load_config(path)`` reads a full or partial
override file and merges it over them (nested mappings merge key by key; lists and scalars
replace). Validation errors name the file and the dotted path of the field.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from arrears.book.terms import LenderType, Method
from arrears.sim.actions import ACTION_KINDS


class Segment(StrEnum):
    """Willingness to pay (还款意愿), fixed per borrower."""

    ORGANISED = "organised"  # 按时还款: pays, occasionally slips
    FORGETFUL = "forgetful"  # 遗忘型: wants to pay, forgets; reminders work
    STRAINED = "strained"  # 拮据型: wants to pay, budget tight; shocks hit hard
    EVADER = "evader"  # 恶意逃废债: can pay, at some point stops
    FRAUD = "fraud"  # 欺诈: never meant to pay


SEGMENTS: tuple[Segment, ...] = tuple(Segment)


class Cause(StrEnum):
    """Income shocks (收入冲击)."""

    JOB_LOSS = "job_loss"  # 失业
    ILLNESS = "illness"  # 疾病
    BUSINESS_FAILURE = "business_failure"  # 经营失败


CAUSES: tuple[Cause, ...] = tuple(Cause)


class ConfigError(ValueError):
    """A configuration file that cannot be used (names the file and the field)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Prob = Field(ge=0, le=1)


def _shares(weights: dict[Any, float], what: str) -> None:
    if not weights:
        raise ValueError(f"{what}: at least one entry")
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise ValueError(f"{what}: weights must be non-negative with a positive sum")


def _range(lo_hi: tuple[Any, Any], what: str) -> None:
    if lo_hi[0] > lo_hi[1]:
        raise ValueError(f"{what}: low {lo_hi[0]} above high {lo_hi[1]}")


class SegmentSpec(_Model):
    """How a willingness segment pays: the curves of docs/simulator.md §3."""

    zh: str
    share: float = Prob
    due_day_p: float = Prob  # P(pays on the due day | not early, ability 1, no contact)
    early_hazard: float = Prob  # daily P(pays the next instalment early) in the early window
    cure_start: float = Field(ge=0)  # overdue intensity at dpd 1 ...
    cure_tau: float = Field(gt=0)  # ... decaying with this e-folding time in days ...
    cure_floor: float = Field(ge=0)  # ... to this floor (late recoveries)
    ability_power: float = Field(ge=0)  # intensity × ability^power
    full_share: float = Prob  # a payment while overdue clears everything owed
    instalment_share: float = Prob  # ... or clears the oldest instalment; else it is partial
    income_shift: int = Field(0, ge=-3, le=3)  # income band offset at generation
    shock_multiplier: float = Field(ge=0)
    auto_debit_works: bool  # the bound card still pays on the due day
    ptp_make: float = Prob  # P(promise | right-party contact by an agent or visit)
    ptp_keep: float = Prob  # P(promise kept | ability 1)
    dispute: float = Prob  # per reached contact
    complaint: float = Prob  # per reached contact, before contact pressure
    turn_days: tuple[int, int] | None = None  # evaders: days after the first loan they stop

    @model_validator(mode="after")
    def _check(self) -> SegmentSpec:
        if self.full_share + self.instalment_share > 1:
            raise ValueError("full_share + instalment_share must be at most 1")
        if self.turn_days is not None:
            _range(self.turn_days, "turn_days")
        return self


class EmployerSpec(_Model):
    zh: str
    weight: float = Field(ge=0)
    shock_per_year: float = Field(ge=0)
    causes: dict[Cause, float]
    occupations: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> EmployerSpec:
        _shares(self.causes, "causes")
        return self


class CauseSpec(_Model):
    zh: str
    level: float = Prob  # ability while in shock
    mean_days: float = Field(gt=0)  # mean time in shock


class AbilitySpec(_Model):
    causes: dict[Cause, CauseSpec]
    recovering_level: float = Prob
    recovering_mean_days: float = Field(gt=0)
    affordability_floor: float = Prob  # lowest ability from the debt burden alone
    burden_threshold: float = Field(ge=0)  # largest instalment ÷ monthly income: no effect ...
    burden_slope: float = Field(ge=0)  # ... below this; above it ability falls this fast


class IncomeBand(_Model):
    label: str
    low: int = Field(ge=0)  # monthly income, yuan
    high: int = Field(ge=0)
    weight: float = Field(ge=0)


class PopulationSpec(_Model):
    age: tuple[int, int] = (20, 60)
    age_mean: float = 32.0
    age_sd: float = Field(8.0, gt=0)
    female_share: float = Prob
    income_bands: list[IncomeBand] = Field(min_length=2)
    employers: dict[str, EmployerSpec]
    loans_per_borrower: dict[int, float]  # candidate loans, the first and repeat draws
    repeat_gap_days: tuple[int, int]  # between one loan's disbursement and the next
    devices: dict[str, float]
    app_active_share: float = Prob  # app installed with notifications on
    email_share: float = Prob

    @model_validator(mode="after")
    def _check(self) -> PopulationSpec:
        _range(self.age, "age")
        _range(self.repeat_gap_days, "repeat_gap_days")
        _shares(self.loans_per_borrower, "loans_per_borrower")
        if min(self.loans_per_borrower) < 1:
            raise ValueError("loans_per_borrower: counts start at 1")
        _shares({e: s.weight for e, s in self.employers.items()}, "employers")
        _shares(self.devices, "devices")
        _shares({b.label: b.weight for b in self.income_bands}, "income_bands")
        return self


class ContactSpec(_Model):
    """Contact points and how they fail (空号, 停机/换号)."""

    mobile_invalid_share: float = Prob  # dead from the start
    mobile_change_per_year: float = Field(ge=0)  # goes dead later (number changed)
    emergency_counts: dict[int, float]
    emergency_consent_share: float = Prob  # consented to be contacted (授权)
    emergency_invalid_share: float = Prob
    relations: dict[str, float]


class ProductSpec(_Model):
    """One product of the market mix."""

    code: str = Field(pattern=r"^[A-Z0-9_]{1,16}$")
    zh: str
    weight: float = Field(ge=0)
    method: Method
    periods: dict[str, float]  # period text (contract) -> weight
    terms: dict[int, float]  # instalment count -> weight
    principal: tuple[int, int]  # yuan, whole hundreds, log-uniform ...
    principal_skew: float = Field(1.0, gt=0)  # ... on u^skew: above 1 favours small loans
    rate: tuple[Decimal, Decimal]  # nominal annual rate, drawn in basis points
    lenders: dict[LenderType, float]
    grace_days: dict[int, float]
    upfront_fee_pct: dict[int, float]
    late_fee_fixed: dict[int, float]  # yuan per instalment past grace (滞纳金)
    auto_debit_share: float = Prob
    settle_hazard: float = Prob  # daily P(settles early) while current
    collateral: str | None = None  # e.g. 车辆 (vehicle)
    collateral_ratio: tuple[float, float] | None = None  # collateral value ÷ principal

    @model_validator(mode="after")
    def _check(self) -> ProductSpec:
        _range(self.principal, "principal")
        _range(self.rate, "rate")
        for name in ("periods", "terms", "lenders", "grace_days", "upfront_fee_pct",
                     "late_fee_fixed"):
            _shares(getattr(self, name), name)
        if self.method is Method.BULLET and set(self.terms) != {1}:
            raise ValueError("a bullet product has exactly one instalment")
        if self.principal[0] < 100:
            raise ValueError("principal: at least 100 yuan")
        return self


class Channel(StrEnum):
    """What an action needs to reach the borrower."""

    SMS = "sms"  # own mobile, working
    APP = "app"  # the app, notifications on
    VOICE = "voice"  # own mobile, answered
    AGENT = "agent"  # own mobile answered, else an emergency contact who consented
    LETTER = "letter"  # postal or e-mail address
    VISIT = "visit"  # someone at home
    COURT = "court"  # service of process
    PLAN = "plan"  # any working channel


class ActionSpec(_Model):
    """One lender action: reach, effect curve and cost (docs/simulator.md §4)."""

    zh: str
    channel: Channel
    reach: float = Prob  # P(reaches | the channel works)
    uplift: dict[Segment, float]  # added to 1 in the intensity multiplier
    half_life_days: float = Field(gt=0)  # the effect halves every so many days
    dpd_half_life: float = Field(gt=0)  # ... and every so many days past due
    fatigue: float = Field(gt=0, le=1)  # × per earlier reached contact of the kind (30 days)
    cost_fen: int = Field(ge=0)

    @model_validator(mode="after")
    def _check(self) -> ActionSpec:
        missing = set(SEGMENTS) - set(self.uplift)
        if missing:
            raise ValueError(f"uplift: missing {sorted(missing)}")
        return self


class ResponseSpec(_Model):
    early_window_days: int = Field(ge=0, le=10)
    auto_debit_intensity: float = Field(ge=0)  # added on the due day when the card pays
    partial_fraction: tuple[float, float]  # of the oldest instalment's owed
    ptp_days: tuple[int, int]  # promise date: days ahead
    complaint_pressure: float = Field(ge=0)  # × per contact beyond 3 in the last 7 days
    charge_off_dpd: int = Field(gt=0)  # 核销 point in the ground truth

    @model_validator(mode="after")
    def _check(self) -> ResponseSpec:
        _range(self.partial_fraction, "partial_fraction")
        _range(self.ptp_days, "ptp_days")
        if not (self.partial_fraction[0] > 0 and self.partial_fraction[1] < 1):
            raise ValueError("partial_fraction: inside (0, 1)")
        return self


class PricingSpec(_Model):
    """Private lenders (民间借贷) are capped at 4 × the 1-year LPR; most price under it."""

    private_rate: tuple[Decimal, Decimal]  # nominal rate of private, individual, P2P lenders
    private_over_cap_share: float = Prob  # ... except this share, priced as the product

    @model_validator(mode="after")
    def _check(self) -> PricingSpec:
        _range(self.private_rate, "private_rate")
        return self


class VintageSpec(_Model):
    monthly_growth: float = Field(ge=-0.5, le=1)  # disbursements grow by this each month
    last_disbursement_margin_days: int = Field(ge=0)  # no new loans this close to the end


class SimConfig(_Model):
    """The whole simulator configuration."""

    segments: dict[Segment, SegmentSpec]
    ability: AbilitySpec
    population: PopulationSpec
    contacts: ContactSpec
    products: list[ProductSpec] = Field(min_length=1)
    actions: dict[str, ActionSpec]
    response: ResponseSpec
    pricing: PricingSpec
    vintages: VintageSpec

    @model_validator(mode="after")
    def _check(self) -> SimConfig:
        if set(self.segments) != set(SEGMENTS):
            raise ValueError(f"segments: exactly {[s.value for s in SEGMENTS]}")
        _shares({s: v.share for s, v in self.segments.items()}, "segments")
        if set(self.ability.causes) != set(CAUSES):
            raise ValueError(f"ability.causes: exactly {[c.value for c in CAUSES]}")
        if self.segments[Segment.EVADER].turn_days is None:
            raise ValueError("segments.evader.turn_days is required")
        codes = [p.code for p in self.products]
        if len(set(codes)) != len(codes):
            raise ValueError("products: codes must be unique")
        if set(self.actions) != set(ACTION_KINDS):
            raise ValueError(f"actions: exactly {sorted(ACTION_KINDS)}")
        return self


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base else v
        return out
    return over


def default_document() -> dict[str, Any]:
    text = resources.files("arrears.sim").joinpath("default.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    assert isinstance(doc, dict)
    return doc


def load_config(path: Path | None = None) -> SimConfig:
    """The shipped defaults, with ``path`` (a full or partial YAML file) merged over them."""
    doc = default_document()
    where = "default.yaml"
    if path is not None:
        where = str(path)
        try:
            over = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
        if not isinstance(over, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level")
        doc = _merge(doc, over)
    try:
        return SimConfig.model_validate(doc)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None
