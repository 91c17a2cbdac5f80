"""CRM bridge: the customer database behind screen pops (issue 4's data layer).

Modules, pure ones first:

- ``phones``: human-written numbers -> E.164 (``normalise``, ``InvalidNumber``,
  ``looks_like_phone``).
- ``cards``: the card's JSON shape (value tier and churn warning as stored by ``analytics``).
- ``import_rows``: header mapping and row validation for imports.
- ``synth`` / ``synth_data``: a deterministic synthetic CRM (rows as dicts).
- ``models``: SQLAlchemy 2 models; ``migrations/``: alembic (``db.upgrade_database``).
- ``urls``: database URLs as people type them -> the async drivers (``async_database_url``,
  ``UnsupportedDatabaseUrl``); light, so the configuration can use it.
- ``db``: ``make_engine``, ``session_factory``, ``upgrade_database``, ``downgrade_database``.
- ``lookup``: ``find_customers``, ``build_card``, ``lookup_card`` (what screen pops and REST call).
- ``seed``: bulk synthetic data (``callcenter crm seed``); ``importer``: CSV/Excel
  (``callcenter crm import``).
- ``interactions``: every call's row, written from the event stream (continued after a restart,
  closed with an inferred end when the call ended unseen).

- ``analytics``: RFM, value pyramid, churn warnings, satisfaction / complaint / queue /
  campaign figures, the report (docs/ANALYTICS.md).
"""
