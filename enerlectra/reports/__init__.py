"""Reports for operators and users: SQL aggregates over the domain's tables (the console reads these)."""
