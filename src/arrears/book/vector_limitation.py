"""The limitation clock for whole portfolios: ``book.limitation.limitation_deadline`` as Polars
expressions, date for date and reason for reason (``tests/book/test_limitation.py`` proves it
on random dates, Feb 29 and rest days included).

Two entry points:

- ``limitation_columns(last_due_on, last_interruption_on, rules, kind=…)`` — deadline and
  reason expressions for a frame with **at most one** interrupting event per loan; equals the
  scalar function given that one event (an event after the period ended does not count).
  They run one batch function over the rows (``map_batches``), so the work is staged.
- ``limitation_frame(loans, events, rules)`` — any number of events per loan, in long form
  (``loan_id, kind, on``); the chain of interruptions is followed as the scalar one does.

Rest days come from the same table as the scalar form (``limitation.rest_days``), and the
reason from the same templates, rendered with columns in place of the per-row values. The
work is done in stages over a frame (each stage reads the columns the last one wrote): one
expression tree for it all would repeat every shared part in every clause of the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType

import polars as pl

from arrears.book.limitation import (
    Roll,
    Text,
    late_text,
    long_stop_text,
    main_text,
    month_end_text,
    proceedings_text,
    rest_days,
    restart_text,
    rolled_text,
    unchecked_text,
)
from arrears.rules.delinquency_data import (
    InterruptionKind,
    LimitationRules,
    LimitationSection,
    Restart,
    StartRule,
)
from arrears.rules.errors import RuleError

# the kind named when a frame has interruption dates but no kinds
UNNAMED = InterruptionKind("interruption", "中断事由", "interruption", "事由未记载",
                           "kind not recorded", Restart.EVENT, -1)

OUTPUT = ("limitation_start", "limitation_restarted_by", "limitation_deadline",
          "limitation_reason")


def _iso(col: str) -> pl.Expr:
    return pl.col(col).dt.to_string("%Y-%m-%d")


def _render(template: Callable[..., Text], *args: object) -> tuple[pl.Expr, pl.Expr]:
    """Call a text template with tokens for the column arguments (expressions), then rebuild
    each string as a concatenation of its literal pieces and the columns — the scalar
    wording, per row."""
    values = {f"c{i}": a for i, a in enumerate(args) if isinstance(a, pl.Expr)}
    texts = template(*(f"\x00c{i}\x00" if isinstance(a, pl.Expr) else a
                       for i, a in enumerate(args)))

    def build(text: str) -> pl.Expr:
        pieces = re.split("\x00(c\\d+)\x00", text)
        return pl.concat_str([values[p] if i % 2 else pl.lit(p)
                              for i, p in enumerate(pieces)])

    return build(texts[0]), build(texts[1])


def _period(frame: pl.DataFrame, start: str, years: int, holidays: str | None,
            out: str) -> pl.DataFrame:
    """Adds ``{out}_u`` (corresponding day: ``offset_by`` clamps to the month's end, as
    ``add_months``), ``{out}_r`` (last day after rest days) and ``{out}_roll`` (``Roll``)."""
    u, r, roll = f"{out}_u", f"{out}_r", f"{out}_roll"
    frame = frame.with_columns(pl.col(start).dt.offset_by(f"{12 * years}mo").alias(u))
    if holidays is None:
        return frame.with_columns(pl.col(u).alias(r), pl.lit(Roll.NONE.value).alias(roll))
    t = rest_days(holidays)
    if t.first is None or t.last is None:
        return frame.with_columns(pl.col(u).alias(r), pl.lit(Roll.UNCHECKED.value).alias(roll))
    moved = [(d, to) for d, to in t.moved.items() if to is not None]
    stuck = pl.Series([d for d, to in t.moved.items() if to is None], dtype=pl.Date)
    keys = pl.Series([d for d, _ in moved], dtype=pl.Date)
    c = pl.col(u)
    frame = frame.with_columns(
        pl.when((c < t.first) | (c > t.last) | c.is_in(stuck.implode()))
        .then(pl.lit(Roll.UNCHECKED.value))
        .when(c.is_in(keys.implode())).then(pl.lit(Roll.ROLLED.value))
        .otherwise(pl.lit(Roll.NONE.value)).alias(roll))
    return frame.with_columns(
        pl.when(pl.col(roll) == Roll.ROLLED.value)
        .then(c.replace_strict(keys, pl.Series([to for _, to in moved], dtype=pl.Date),
                               default=c, return_dtype=pl.Date))
        .otherwise(c).alias(r))


def _kind_map(rules: LimitationRules, kind: pl.Expr, field: str) -> pl.Expr:
    kinds = list(rules.events)
    if not kinds:
        return pl.lit(None, pl.String)
    return kind.replace_strict(kinds, [str(getattr(rules.events[k], field)) for k in kinds],
                               return_dtype=pl.String)


def _check_kinds(kinds: pl.Series, rules: LimitationRules) -> None:
    unknown = sorted(set(kinds.drop_nulls().unique().to_list()) - set(rules.events))
    if unknown:
        raise RuleError(f"unknown interruption event {', '.join(map(repr, unknown))}; known: "
                        f"{', '.join(rules.events) or 'none in this regime'}")


def _need_first_default(rules: LimitationRules, given: bool) -> None:
    if rules.start is StartRule.FIRST_DEFAULT and not given:
        raise ValueError(f"these rules ({rules.region or 'default'}) run the period from the "
                         "first default: give first_default_on")


def _bounds(frame: pl.DataFrame, rules: LimitationRules, anchor: str) -> pl.DataFrame:
    """Adds ``_ls_*`` (the long stop from ``_fd``) and ``_cap``: the last day of a period
    running from ``anchor``, long stop applied — the end an event is tested against."""
    frame = _period(frame, anchor, rules.years, rules.holidays, "_a")
    if rules.long_stop_years is None:
        return frame.with_columns(_ls_u=pl.lit(None, pl.Date), _ls_r=pl.lit(None, pl.Date),
                                  _ls_roll=pl.lit(None, pl.String), _cap=pl.col("_a_r"))
    frame = _period(frame, "_fd", rules.long_stop_years, rules.holidays, "_ls")
    return frame.with_columns(_cap=pl.min_horizontal("_a_r", "_ls_r"))


def _finish(frame: pl.DataFrame, rules: LimitationRules) -> pl.DataFrame:
    """From ``_base``, ``_fd``, ``_ls_*`` and the restarting (``_eff_on``, ``_eff_kind``) and first
    late (``_late_on``, ``_late_kind``) events: the ``OUTPUT`` columns, as ``_reason`` words
    them (clause for clause)."""
    frame = frame.with_columns(limitation_start=pl.coalesce("_eff_on", "_base"))
    frame = _period(frame, "limitation_start", rules.years, rules.holidays, "_s")
    binds = pl.col("_ls_r").is_not_null() & (pl.col("_ls_r") < pl.col("_s_r"))
    frame = frame.with_columns(_binds=binds.fill_null(False)).with_columns(
        _u=pl.when("_binds").then("_ls_u").otherwise("_s_u"),
        limitation_deadline=pl.when("_binds").then("_ls_r").otherwise("_s_r"),
        _roll=pl.when("_binds").then("_ls_roll").otherwise("_s_roll"),
        _anchor=pl.when("_binds").then("_fd").otherwise("limitation_start"))
    zh: list[pl.Expr] = []
    en: list[pl.Expr] = []

    def clause(cond: pl.Expr, text: tuple[pl.Expr, pl.Expr]) -> None:
        zh.append(pl.when(cond).then(text[0]).otherwise(pl.lit("")))
        en.append(pl.when(cond).then(text[1]).otherwise(pl.lit("")))

    restarted = pl.col("_eff_on").is_not_null()
    kind = pl.col("_eff_kind")
    s = _iso("limitation_start")
    clause(~restarted, _render(main_text, rules, s))
    clause(restarted, _render(restart_text, rules, s, kind, _kind_map(rules, kind, "zh"),
                              _kind_map(rules, kind, "basis_zh"),
                              _kind_map(rules, kind, "basis_en")))
    proceedings = [k for k, e in rules.events.items() if e.restarts is Restart.PROCEEDINGS_END]
    clause(restarted & kind.is_in(proceedings), _render(proceedings_text, s))
    clause(pl.col("_binds"), _render(long_stop_text, rules, _iso("_fd"), _iso("_ls_u")))
    clause(pl.col("_u").dt.day() != pl.col("_anchor").dt.day(),
           _render(month_end_text, rules, _iso("_u")))
    clause(pl.col("_roll") == Roll.ROLLED.value,
           _render(rolled_text, rules, _iso("_u"), _iso("limitation_deadline")))
    if rules.holidays is not None:
        clause(pl.col("_roll") == Roll.UNCHECKED.value,
               _render(unchecked_text, rules, _iso("_u"), rest_days(rules.holidays).years))
    late = pl.col("_late_kind")
    clause(pl.col("_late_on").is_not_null(),
           _render(late_text, rules, late, _kind_map(rules, late, "zh"), _iso("_late_on"),
                   _iso("limitation_deadline")))
    return frame.with_columns(
        limitation_restarted_by=pl.col("_eff_kind").cast(pl.String),
        limitation_reason=pl.concat_str([*zh, pl.lit(" / "), *en]))


def _single(frame: pl.DataFrame, rules: LimitationRules) -> pl.DataFrame:
    """``OUTPUT`` for rows of ``_base``, ``_fd``, ``_on``, ``_kind`` (at most one event a row)."""
    given = frame["_kind"].filter(frame["_on"].is_not_null())
    if given.null_count():
        raise RuleError("an interruption date has no kind")
    _check_kinds(given, rules)
    never = [k for k, e in rules.events.items() if e.restarts is Restart.NEVER]
    frame = _bounds(frame.with_columns(
        _on=pl.when(pl.col("_kind").is_in(never).not_()).then("_on")), rules, "_base")
    late = pl.col("_on").is_not_null() & (pl.col("_on") > pl.col("_cap"))
    eff = pl.col("_on").is_not_null() & ~late & (pl.col("_on") > pl.col("_base"))
    frame = frame.with_columns(
        _eff_on=pl.when(eff).then("_on"), _eff_kind=pl.when(eff).then("_kind"),
        _late_on=pl.when(late).then("_on"), _late_kind=pl.when(late).then("_kind"))
    return _finish(frame, rules)


def limitation_columns(last_due_on: pl.Expr, last_interruption_on: pl.Expr,
                       rules: LimitationRules | LimitationSection, *,
                       kind: pl.Expr | str | None = None,
                       first_default_on: pl.Expr | None = None) -> tuple[pl.Expr, pl.Expr]:
    """``(limitation_deadline, limitation_reason)`` for loans with at most one interrupting
    event: ``last_interruption_on`` (null = none) of ``kind`` (a column, one kind for all rows,
    or None: the reason then says "interruption" — the deadline is the same for every kind
    that restarts on its own day). Equal to ``limitation_deadline`` given that one event: one
    after the period ended does not count. An unknown kind raises ``RuleError`` when the
    frame is computed. For several events per loan use ``limitation_frame``."""
    r = rules.rules() if isinstance(rules, LimitationSection) else rules
    if kind is None:
        r = replace(r, events=MappingProxyType({UNNAMED.kind: UNNAMED}))
        kind = UNNAMED.kind
    _need_first_default(r, first_default_on is not None)
    base = last_due_on if r.start is StartRule.LAST_INSTALMENT_DUE else first_default_on
    rows = pl.struct(
        _base=base, _on=last_interruption_on.cast(pl.Date),
        _kind=pl.lit(kind, pl.String) if isinstance(kind, str) else kind.cast(pl.String),
        _fd=pl.lit(None, pl.Date) if first_default_on is None else first_default_on)

    def run(batch: pl.Series) -> pl.Series:
        frame = _single(batch.struct.unnest().with_columns(pl.col("_base").cast(pl.Date),
                                                          pl.col("_fd").cast(pl.Date)), r)
        return frame.select(pl.struct("limitation_deadline", "limitation_reason")).to_series()

    out = rows.map_batches(run, return_dtype=pl.Struct({"limitation_deadline": pl.Date,
                                                        "limitation_reason": pl.String}),
                           is_elementwise=True)
    return (out.struct.field("limitation_deadline").alias("limitation_deadline"),
            out.struct.field("limitation_reason").alias("limitation_reason"))


def limitation_frame(loans: pl.DataFrame, events: pl.DataFrame,
                     rules: LimitationRules | LimitationSection) -> pl.DataFrame:
    """``loans`` (``loan_id``, ``last_due_on`` and, optionally, ``first_default_on``) with the
    columns ``OUTPUT`` added, after every event in ``events`` (``loan_id``, ``kind``, ``on``).
    Raises ``RuleError`` naming any event kind the rules do not know."""
    if isinstance(rules, LimitationSection):
        rules = rules.rules()
    if events["kind"].null_count():
        raise RuleError("an interruption event has no kind")
    _check_kinds(events["kind"], rules)
    has_fd = "first_default_on" in loans.columns
    _need_first_default(rules, has_fd)
    base = "last_due_on" if rules.start is StartRule.LAST_INSTALMENT_DUE else "first_default_on"
    own = loans.select("loan_id", _base=pl.col(base).cast(pl.Date),
                       _fd=pl.col("first_default_on").cast(pl.Date) if has_fd
                       else pl.lit(None, pl.Date))
    never = [k for k, e in rules.events.items() if e.restarts is Restart.NEVER]
    ranks = list(rules.events)
    # Each event is tested against the end of the period its predecessor left running: from
    # the latest of the base and the previous event (an event on or before the base restarts
    # nothing). The first event past that end stops the chain; later ones come later still.
    chain = (events.filter(~pl.col("kind").is_in(never))
             .select("loan_id", "kind", pl.col("on").cast(pl.Date))
             .join(own, on="loan_id", how="inner")
             .with_columns(rank=pl.col("kind").replace_strict(
                 ranks, list(range(len(ranks))), return_dtype=pl.Int32))
             .sort("loan_id", "on", "rank")
             .with_columns(_prev=pl.max_horizontal(
                 "_base", pl.col("on").shift(1).over("loan_id"))))
    chain = _bounds(chain, rules, "_prev").with_columns(
        late=pl.col("on") > pl.col("_cap")).with_columns(
        broken=pl.col("late").cum_sum().over("loan_id"))
    effective = (chain.filter((pl.col("broken") == 0) & (pl.col("on") > pl.col("_base")))
                 .group_by("loan_id")
                 .agg(_eff_on=pl.col("on").max(),
                      _eff_kind=pl.col("kind").sort_by("on", "rank", descending=[True, False])
                      .first()))
    late = (chain.filter(pl.col("late") & (pl.col("broken") == 1))
            .select("loan_id", _late_on="on", _late_kind="kind"))
    frame = _bounds(own.join(effective, on="loan_id", how="left")
                    .join(late, on="loan_id", how="left"), rules, "_base")
    out = _finish(frame, rules).select("loan_id", *OUTPUT)
    return loans.join(out, on="loan_id", how="left", maintain_order="left")
