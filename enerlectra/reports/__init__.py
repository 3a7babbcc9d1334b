"""Report queries for the operator console (issue 19): pure async functions over a read sessionmaker and a
period, returning small dataclasses. Every figure is aggregated in SQL, from the daily rollups
(workers/analytics.py) and indexed columns; nothing loads rows to count them."""
