"""Demo data for trying the system and for the benchmarks; nothing here runs in production.

- `manage.py setup_demo`: reference data plus a handful of demo accounts (the README's run command).
- `manage.py generate_demo_data --members N`: realistic members, periods and payments in bulk.

people.py (names and places) -> identifiers.py (unique phones, IDs, receipts) -> histories.py (one member's
life as rows) -> generate.py (the bulk writers); the commands only read their options and report.
"""
