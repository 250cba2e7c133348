"""Reports over run records: leaderboard tables."""
