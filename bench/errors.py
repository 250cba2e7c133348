"""User-facing errors: the CLI prints their message without a traceback."""

import errno
import os


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


# A message printed by the CLI is cut to this many characters (a value quoted in it, a parser's
# message or a dataset's list of problems cannot fill a terminal or a log).
MAX_MESSAGE = 4000


def user_message(exc: BaseException) -> str:
    """What the CLI prints for an error: its message, reduced to the cause where a DataLoader
    worker wrapped it in its traceback text, and cut to MAX_MESSAGE characters."""
    text = str(exc)
    if "DataLoader worker process" in text and "Traceback" in text:
        lines = text.splitlines()
        frames = [i for i, line in enumerate(lines) if line.startswith("  ")]
        cause = "\n".join(lines[frames[-1] + 1 :]) if frames else lines[-1]
        name, sep, message = cause.partition(": ")
        text = message if sep and " " not in name else cause
    if len(text) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE]}... ({len(text) - MAX_MESSAGE:,} more characters)"
    return text


ERRNO_ADVICE = {
    "EROFS": "the file system is read-only: pass --results (or the output) on a writable disk",
    "ENOSPC": "the disk is full: free some space and rerun (what finished is kept)",
    "EDQUOT": "the disk quota is used up: free some space and rerun (what finished is kept)",
    "EFBIG": "the file is larger than this system allows (ulimit -f)",
    "EACCES": "permission denied: check the owner and mode of the folder",
    "EPERM": "the operation is not permitted here: choose another place",
    "ENOENT": "a folder on the way does not exist (or cannot be created there)",
    "ENOTDIR": "a part of the path is a file, not a folder",
    "EISDIR": "it is a folder where a file is expected",
    "EEXIST": "it exists already",
}


def system_message(exc: OSError) -> str:
    """An operating-system error as the CLI prints it: the file, the errno and what to do."""

    name = errno.errorcode.get(exc.errno, "") if exc.errno else ""
    reason = exc.strerror or (os.strerror(exc.errno) if exc.errno else str(exc))
    where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    advice = ERRNO_ADVICE.get(name)
    text = f"{where or 'the system'}: {reason}" + (f" ({name})" if name else "")
    return user_message(OSError(text + (f"; {advice}." if advice else ".")))
