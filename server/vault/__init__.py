"""The PII vault: personal data kept apart from the main database, encrypted field by field."""
