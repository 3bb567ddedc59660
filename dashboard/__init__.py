"""`python -m dashboard --store URL`: the live page over a store the
pipeline writes (SQLite or PostgreSQL), read with a read-only connection.

    cli.py       flags, one-line errors, the server (waitress, loopback)
    app.py       the Flask app: the page, its static files, /api/snapshot
    snapshot.py  the store's newest panes -> the figures the page shows
    static/      the page (HTML, JS, CSS); plotly.js is served from the
                 installed plotly package, never from a CDN
"""
