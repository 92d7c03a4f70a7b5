"""Render docs/data-contract.md from the field definitions: ``python -m arrears.contract.docs``."""

from __future__ import annotations

import sys

from arrears.contract.fields import CONTRACTS, KEYS, Field, Kind
from arrears.contract.outcomes import OUTCOME_FIELDS, OUTCOME_KEY

KIND_TEXT = {
    Kind.ID: "id — 1–64 of letters, digits, `- _ . :`",
    Kind.TEXT: "text (≤ 500 characters)",
    Kind.MONEY: "amount in major units (yuan), ≥ 0, at most 2 decimals",
    Kind.RATE: "decimal fraction (0.18 = 18 %)",
    Kind.INT: "whole number",
    Kind.DATE: "date `YYYY-MM-DD`",
    Kind.DATETIME: "date-time `YYYY-MM-DD[ HH:MM[:SS]]`, optional `±HH:MM`; "
                   "naive = lender's local time (Asia/Shanghai)",
    Kind.CHOICE: "one of",
    Kind.BOOL: "true/false (also 1/0, yes/no, 是/否)",
    Kind.MOBILE: "mobile: `1[3-9]` + 9 digits, or `+` and 6–15 digits",
    Kind.ID_NUMBER: "18-character resident ID with a valid check digit (GB 11643), "
                    "or a 15-digit old ID",
    Kind.PERIOD: "`month`, `quarter`, `week`, `Nm`, `Nd`, `Nw`",
    Kind.WATERFALL: "comma list of fee, penalty, interest, principal — each once",
}

HEADER = """# Data contract (数据接口规范)

Generated from `src/arrears/contract/fields.py` by `python -m arrears.contract.docs` — edit the
fields there, not this page (a test keeps the two in step).

`arrears ingest FILE…` takes CSV (UTF-8 with or without BOM, or GB18030), Parquet and JSON
Lines. The kind of file is told from its header (`payment_id` → payments; `loan_id` and
`principal` → loans; `borrower_id` and `id_number` → borrowers); files are processed in that
dependency order whatever order they are given in. Column names are exactly as below; extra
columns are ignored; empty optional fields take their default.

Every row carries its own id, so ingesting the same file twice changes nothing: a row whose id
is already stored with the same content is counted as a duplicate; with different content it
is a conflict and is quarantined. A bad row never stops the file: it is written to
`$ARREARS_HOME/quarantine/run<NNNNNN>-<file>.quarantine.csv` with its original columns plus
`_row` (1-based data row; for CSV the line number is `_row + 1`), `_field` and `_reason` (every
problem of the row). The command prints the first problems as `FILE: row N (line M): field:
reason (got 'value')` — personal fields (name, ID number, mobile, address) are masked — and
exits with status 1 when any row was quarantined.

References are checked against the store: a loan's borrower and a payment's loan must exist; a
payment's currency, when given, must be the loan's. A payment dated before its loan's
disbursement, or one the loan cannot take, is quarantined with the engine's reason.
"""


OUTCOMES_INTRO = """
## Contact outcomes (触达回执) — not ingested yet

Key: `contact_id`. One row per collection action taken: the channel's delivery receipt and
what the borrower said. `arrears simulate` writes it (`contact_outcomes.parquet`, and
`contact_outcomes.csv` per day); `arrears ingest` does not take it yet — the collections issue
will. Defined in `src/arrears/contract/outcomes.py`.
"""


def _table(fields: tuple[Field, ...]) -> list[str]:
    out = ["| field | 中文 | required | type | meaning | example | default |",
           "|---|---|---|---|---|---|---|"]
    for f in fields:
        kind_text = KIND_TEXT[f.kind]
        if f.choices:
            kind_text += " " + ", ".join(f"`{c}`" for c in f.choices)
        if f.low is not None or f.high is not None:
            kind_text += f" ({f.low}–{f.high})"
        out.append(f"| `{f.name}` | {f.zh} | {'yes' if f.required else 'no'} | {kind_text} "
                   f"| {f.en} | `{f.example}` | {'' if f.default is None else f.default} |")
    return out


def render() -> str:
    out = [HEADER]
    titles = {"borrowers": "Borrowers (借款人)", "loans": "Loans (借据)",
              "payments": "Payments (还款流水)"}
    for kind, fields in CONTRACTS.items():
        out.append(f"\n## {titles[kind]}\n\nKey: `{KEYS[kind]}`.\n")
        out.extend(_table(fields))
    assert OUTCOME_FIELDS[0].name == OUTCOME_KEY
    out.append(OUTCOMES_INTRO)
    out.extend(_table(OUTCOME_FIELDS))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
