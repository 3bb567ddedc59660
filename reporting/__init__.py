"""What people look at: the report of a bounded run (an HTML file) and the
reading of the output tables that the report and the live dashboard share.

    tables.py   the output tables as plain rows, from files or a store
    store.py    read-only connections to a SQLite / PostgreSQL store
    days.py     the calendar day of a row (its `day` column, or derived)
    figures.py  the figures both show, computed from the rows
    charts.py   the report's charts (matplotlib, inline SVG)
    page.py     the report's HTML
    report.py   write_report: tables + run counts -> one HTML file

Layers: pipelines -> reporting -> transforms; dashboard -> reporting.
"""
