"""Errors of the rule packs: a question the loaded rules cannot answer, or a broken pack."""

from __future__ import annotations


class RuleError(ValueError):
    """The rules cannot answer this (no cap in this jurisdiction, no LPR on that date …)."""


class PackError(RuleError):
    """A rule-pack file is missing or malformed; the message names the file and the key."""
