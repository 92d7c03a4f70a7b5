"""Use cases: each opens a transaction, calls the pure core, persists, audits. Shells (CLI,
API) call these and nothing below them."""
