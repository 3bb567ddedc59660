"""Data mining on the cleaned sales: customer segments (segments.py),
frequently bought together (pairs.py) and anomaly alerts (anomalies.py),
each an optional step of the one graph (steps.py; docs/mining.md)."""
