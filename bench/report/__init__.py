"""Reports over run records: records.py reads them (read-only), aggregate.py turns them into rows
per configuration, stats.py holds the statistics, published.py loads the papers' numbers,
matching.py finds our row for a published one, layout.py lays the tables out (all pure),
render.py writes Markdown / LaTeX / CSV / HTML, plots.py draws, site.py writes `bench leaderboard
--write DIR`, cli.py runs the command."""
