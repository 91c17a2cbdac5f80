"""Customer analytics (issue 14): pandas over the CRM; definitions in docs/ANALYTICS.md.

- ``customers`` (pure): RFM scores and segments, the value pyramid, churn warnings.
- ``operations`` (pure): satisfaction trends, complaint statistics, call-center results by
  interval, campaign results.
- ``sources``: reading the database (``GROUP BY`` in PostgreSQL, chunks on SQLite).
- ``store``: ``refresh`` computes and keeps each customer's tier, scores and churn warning.
- ``charts`` and ``report``: matplotlib charts, the HTML/PDF report and the supervisor page's data.
"""

from crm_bridge.analytics.customers import (
    CHURN_REASONS,
    PYRAMID_TIERS,
    SEGMENTS,
    AnalyticsSettings,
    OrderTotals,
    PyramidShares,
    churn_reasons,
    churn_warnings,
    customer_analytics,
    order_totals,
    rfm_scores,
    value_pyramid,
)

__all__ = [
    "CHURN_REASONS",
    "PYRAMID_TIERS",
    "SEGMENTS",
    "AnalyticsSettings",
    "OrderTotals",
    "PyramidShares",
    "churn_reasons",
    "churn_warnings",
    "customer_analytics",
    "order_totals",
    "rfm_scores",
    "value_pyramid",
]
