"""Generators trained by the harness itself (small diffusion models for embedded data)."""
