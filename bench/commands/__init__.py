"""The commands of the `bench` CLI that live outside bench/cli.py (the top layer, beside
launch and report): bench/cli.py reads the parsed arguments and calls these with plain values."""
