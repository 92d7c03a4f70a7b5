"""The ingestion data contract (fields, zh/en) and vectorised row validation (pure)."""
