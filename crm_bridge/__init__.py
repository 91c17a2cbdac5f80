"""CRM bridge: SQLAlchemy models and migrations, customer look-up and screen-pop payloads,
interactions, the complaint workflow and analytics. Filled in by the CRM issue (issue 4)."""
