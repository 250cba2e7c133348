"""User-facing errors: the CLI prints their message without a traceback."""


class BenchError(Exception):
    """Bad input or a state the user can fix; the message says what and how."""


class ConfigError(BenchError):
    """An unknown key, a wrong type or an impossible value in a run's configuration."""


class DataError(BenchError):
    """A dataset on disk is missing, malformed or does not match its official statistics."""
