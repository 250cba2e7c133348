"""User-facing errors: the CLI prints their message without a traceback."""


class BenchError(Exception):
    """Bad input or a state the user can fix; the message says what and how."""


class ConfigError(BenchError):
    """An unknown key, a wrong type or an impossible value in a run's configuration."""


class DataError(BenchError):
    """A dataset on disk is missing, malformed or does not match its official statistics."""


class CorruptCacheError(DataError):
    """A cached generator or synthetic-set file no longer matches the checksum recorded when it
    was written (truncated, a flipped byte, replaced). `paths` are the damaged entries;
    `bench run --rebuild-cache` deletes exactly those and makes them again."""

    def __init__(self, message: str, paths: list):
        super().__init__(message)
        self.paths = list(paths)


class Interrupted(KeyboardInterrupt):
    """SIGTERM (a scheduler preempting the job, `kill`) or SIGINT: raised where the process is,
    so it stops as after Ctrl-C. Runs keep what they finished (epochs, shards, a fitted
    generator) and resume when the same command is run again."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
