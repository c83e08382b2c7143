"""How care is going, read from the store: metrics, reports, the dashboard, the digest, /metrics."""
