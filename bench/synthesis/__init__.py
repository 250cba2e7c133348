"""Synthetic data: plans (how many images of what), requests, and the sharded on-disk store."""
