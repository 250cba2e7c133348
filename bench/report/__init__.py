"""Reports over run records: records.py reads them (read-only), layout.py aggregates them
into tables (pure), published.py loads the papers' numbers, render.py writes Markdown / LaTeX /
CSV / HTML, plots.py draws, site.py writes `bench leaderboard --write DIR`, cli.py runs the
command."""
