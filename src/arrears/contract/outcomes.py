"""Contact outcomes (触达回执): what became of each collection action — the delivery receipt
from the channel and what the borrower said. Defined here, next to the ingestion contract,
so that the simulator writes it and a later issue can ingest it; ``arrears ingest`` does not
take it yet (its header matches none of the ingested kinds)."""

from __future__ import annotations

from arrears.contract.fields import Field, Kind

ACTIONS = ("reminder", "sms", "app_push", "robot_call", "agent_call", "lawyer_letter",
           "field_visit", "litigation", "plan_offered")
CHANNELS = ("sms", "app", "voice", "agent", "letter", "visit", "court", "plan")
STATUSES = ("delivered", "answered", "third_party", "no_answer", "not_reached",
            "invalid_number", "app_inactive")
OUTCOMES = ("none", "ptp", "dispute", "complaint", "plan_accepted", "refused")

OUTCOME_KEY = "contact_id"
OUTCOME_FIELDS: tuple[Field, ...] = (
    Field("contact_id", Kind.ID, True, "触达编号", "the action's id", "S1-C20250815-000042"),
    Field("loan_id", Kind.ID, True, "借据号", "loan the action was about", "L000456"),
    Field("borrower_id", Kind.ID, True, "借款人编号", "its borrower", "B000123"),
    Field("contacted_at", Kind.DATETIME, True, "触达时间", "when the action was taken "
          "(lender's local time)", "2025-08-15 10:32:05"),
    Field("action", Kind.CHOICE, True, "动作", "what the lender did", "agent_call", ACTIONS),
    Field("action_zh", Kind.TEXT, False, "动作名称", "the action in Chinese", "人工电话"),
    Field("channel", Kind.CHOICE, True, "渠道", "how it travelled", "agent", CHANNELS),
    Field("target", Kind.CHOICE, True, "对象", "who was reached: the borrower, or an "
          "emergency contact who consented (第三方)", "borrower", ("borrower", "emergency")),
    Field("status", Kind.CHOICE, True, "送达状态", "delivery receipt: delivered / answered "
          "reached someone; invalid_number is a dead number (空号/停机)", "answered", STATUSES),
    Field("status_zh", Kind.TEXT, False, "送达状态(中文)", "the status in Chinese", "本人接通"),
    Field("outcome", Kind.CHOICE, True, "结果", "what the borrower said: a promise to pay "
          "(承诺还款), a dispute (异议), a complaint (投诉), a plan accepted, a refusal",
          "ptp", OUTCOMES),
    Field("outcome_zh", Kind.TEXT, False, "结果(中文)", "the outcome in Chinese", "承诺还款"),
    Field("ptp_date", Kind.DATE, False, "承诺还款日", "date promised (outcome ptp)",
          "2025-08-20"),
    Field("ptp_amount", Kind.MONEY, False, "承诺金额", "amount promised (outcome ptp)",
          "1250.00"),
    Field("cost", Kind.MONEY, True, "成本", "what the action cost the lender", "3.00"),
)
