"""Atomic file writes and stable hashing: nothing half-written is ever left behind."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import yaml

from bench.errors import BenchError, ConfigError


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(tmp_path)` and move the result into place in one rename.

    A reader sees either the old file or the complete new one, never a partial file, even if the
    process is killed mid-write (SLURM preemption, Ctrl-C). A symbolic link in place of the file
    or of its folder is refused (bench never writes through a link someone planted). A write
    that fails for want of space is an OSError naming `path` and ENOSPC, whatever library wrote.
    """
    path = Path(path)
    for place in (path, path.parent):
        if place.is_symlink():
            raise BenchError(planted_link(place))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        # mkstemp makes the file 0600; give it the mode any new file gets (0666 less the umask),
        # so collaborators sharing a results folder can read what was written. Set after the
        # write too: some writers make the file anew (safetensors' save_file leaves it 0600).
        mode = 0o666 & ~current_umask()
        os.chmod(tmp, mode)
        write(Path(tmp))
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename in (None, tmp):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    except Exception as exc:  # a library's own error (torch, safetensors) for a full disk
        Path(tmp).unlink(missing_ok=True)
        if shutil.disk_usage(path.parent).free < 1 << 20:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def torch_writer(obj: Any) -> Callable[[Path], None]:
    """An atomic_write writer saving `obj` with torch.save through a Python file, so a failed
    write is an OSError with its errno (torch's own file writer raises a bare RuntimeError)."""

    def write(tmp: Path) -> None:
        # torch: heavy, imported where used (off the start-up path)
        import torch

        with open(tmp, "wb") as f:
            torch.save(obj, f)

    return write


def planted_link(path: Path) -> str:
    return (
        f"{path} is a symbolic link: bench writes only into real files and folders it made, "
        "never through a link (someone with write access may have planted it). Remove the link "
        "and rerun."
    )


def is_plain_name(name: str) -> bool:
    """One path component that stays where it is put: not empty, no separator, not . or .."""
    return bool(name) and name not in (".", "..") and not set(name) & {"/", "\\", "\0"}


def inside(root: Path, *parts: str) -> Path:
    """`root/parts...`, checked to stay under `root`: each part a plain name (`is_plain_name`),
    no existing component below `root` a symbolic link, and the whole resolving inside `root`
    (which may itself be a link: a results folder on another disk). Creates nothing."""
    root = Path(root)
    path = root
    for part in parts:
        if not is_plain_name(part):
            raise BenchError(
                f"{part!r:.80} is not a plain file or folder name (no '/', no '..'): bench "
                f"writes nothing outside {root}."
            )
        path = path / part
        if path.is_symlink():
            raise BenchError(planted_link(path))
    real = os.path.realpath(path)
    if not is_within(real, os.path.realpath(root)):
        raise BenchError(f"{path} resolves to {real}, outside {root}: bench writes nothing there.")
    return path


# The kinds of entry under <results>/cache/: folders bench made and may make again.
CACHE_KINDS = ("generators", "synthetic", "pretrained", "features")


def remake_advice(path: Path) -> str:
    """What to do about a damaged folder: delete and remake it if it is an entry of a bench
    cache (<results>/cache/<kind>/<key>); a folder the user named (--synthetic, init_from,
    pretrained_dir) is never to be deleted, only checked."""
    real = Path(os.path.realpath(path))
    if real.parent.name in CACHE_KINDS and real.parent.parent.name == "cache":
        return f"delete {path} and rerun to make it again"
    return f"check that {path} is the folder you meant (it is not an entry of a bench cache)"


def is_within(real: str, real_root: str) -> bool:
    """Whether the resolved path `real` is the resolved folder `real_root` or lies under it."""
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def follow_umask(folder: Path) -> None:
    """Give the regular files under `folder` the mode a new file gets (0666 less the umask):
    for what a library wrote with a mode of its own (safetensors writes 0600). Links are left
    alone."""
    mode = 0o666 & ~current_umask()
    for path in Path(folder).rglob("*"):
        if stat.S_ISREG(os.lstat(path).st_mode):
            os.chmod(path, mode)


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def open_no_follow(path: Path, mode: str = "a") -> IO[str]:
    """Open a lock or log file ("a" or "a+") without following a symlink in its place.

    In a results folder shared with others, a symlink planted as `.lock` or `log.txt` would
    make the harness truncate or append to the file it points to; a FIFO would hang it. Only a
    regular file (created if missing) is opened; anything else is a BenchError.
    """
    access = os.O_RDWR if "+" in mode else os.O_WRONLY
    flags = access | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        what = "a symbolic link" if exc.errno == errno.ELOOP else f"not usable ({exc.strerror})"
        raise BenchError(
            f"{path} is {what}: bench opens lock and log files only as regular files. Remove "
            "it (someone with write access to this folder may have planted it) and rerun."
        ) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise BenchError(f"{path} is not a regular file; remove it and rerun.")
    os.set_blocking(fd, True)
    return os.fdopen(fd, mode, encoding="utf-8")


@contextmanager
def file_lock(path: Path, blocking: bool = True) -> Iterator[bool]:
    """An exclusive lock on `path` (released if the process dies); yields whether it was got
    (always True when `blocking`). The one lock of the harness: run directories, sweeps, cache
    entries and shards all take it.

    The lock file is opened without following symlinks and must be a regular file
    (`open_no_follow`); the holder writes its host and process id into it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_no_follow(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            handle.truncate(0)
            handle.write(f"{socket.gethostname()} {os.getpid()}\n")
            handle.flush()
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def decode_utf8(raw: bytes, where: str, error: type[Exception]) -> str:
    """`raw` as UTF-8 text; other bytes raise `error` with `where` ("{line}" filled in)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise error(
            f"{where.format(line=line)}: not UTF-8 text (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}). Save the file as UTF-8 (e.g. with iconv -t utf-8)."
        ) from None


# Bounds on a YAML file bench reads (run configs, sweep specs, SLURM profiles, prompt and
# modifier lists): its size, its values with aliases expanded, and its nesting.
MAX_YAML_BYTES = 1 << 20
MAX_YAML_VALUES = 100_000
MAX_YAML_DEPTH = 32
# Quoted text (a value, a parser's message) is cut to this length in an error message.
MAX_QUOTED = 300


def clip(text: str, limit: int = MAX_QUOTED) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    text = str(text)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more)"


def read_yaml(path: Path, what: str) -> tuple[Any, str]:
    """A YAML file's value and text, within the bounds above: a larger file, an alias bomb or
    a deep nesting is a ConfigError naming `what` and the file, before anything is built."""

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist (or is not a file).")
    with open(path, "rb") as f:
        raw = f.read(MAX_YAML_BYTES + 1)
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(
            f"{what} {path} is larger than {MAX_YAML_BYTES:,} bytes, the most bench reads from "
            "a YAML file (settings files are a few KB): is it the file you meant?"
        )
    text = decode_utf8(raw, f"{what} {path}, line {{line}}", ConfigError)
    try:
        check_yaml_bounds(yaml.compose(text, Loader=yaml.SafeLoader), f"{what} {path}")
        return yaml.safe_load(text), text
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} {path}{at}: not valid YAML ({clip(exc)}).") from None


def check_yaml_bounds(root: Any, where: str) -> None:
    """Count a composed YAML document's values, aliases expanded (a shared node counts each
    time it is used), and its depth, stopping at the first bound passed."""

    stack, count = [(root, 1)] if root is not None else [], 0
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_YAML_VALUES or depth > MAX_YAML_DEPTH:
            bound = (
                f"more than {MAX_YAML_VALUES:,} values (aliases expanded)"
                if count > MAX_YAML_VALUES
                else f"nesting deeper than {MAX_YAML_DEPTH} levels"
            )
            raise ConfigError(f"{where}: {bound}; bench refuses it (an alias bomb?).")
        if isinstance(node, yaml.SequenceNode):
            stack += [(child, depth + 1) for child in node.value]
        elif isinstance(node, yaml.MappingNode):
            stack += [(child, depth + 1) for pair in node.value for child in pair]


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_jsonl(path: Path) -> list[Any]:
    """Read a JSON-lines file, ignoring a torn last line left by a killed writer."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def file_digest(path: Path) -> str:
    """sha256 of a file, read in chunks (weights files can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# Files up to this size are hashed whole for a setting's content digest; larger ones (weights)
# by their size and their first and last MiB, so resolving a run never reads gigabytes.
WHOLE_FILE_DIGEST = 64 << 20
_PATH_DIGESTS: dict[tuple[str, int, int], str] = {}


def path_digest(path: Path) -> str:
    """A digest of a file's or a folder's content (every file below it, by relative path), for a
    setting that names one (bench.hparams `path=True`). Memoised per process by path, size and
    modification time."""
    path = Path(path)
    st = path.stat()
    memo = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if memo not in _PATH_DIGESTS:
        h = hashlib.sha256()
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            h.update(file.relative_to(path).as_posix().encode() if file != path else b".")
            h.update(b"\0" + content_digest(file).encode())
        _PATH_DIGESTS[memo] = h.hexdigest()
    return _PATH_DIGESTS[memo]


def content_digest(path: Path) -> str:
    """sha256 of a file, or for a file above WHOLE_FILE_DIGEST of its size, first and last MiB."""
    size = path.stat().st_size
    if size <= WHOLE_FILE_DIGEST:
        return file_digest(path)
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(-(1 << 20), os.SEEK_END)
        h.update(f.read(1 << 20))
    return h.hexdigest()


def tree_digests(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every regular file under `root` (relative POSIX path -> digest), except the
    top-level names in `skip`: the checksums a cache entry records when it is complete."""
    root = Path(root)
    return {
        p.relative_to(root).as_posix(): file_digest(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink() and p.relative_to(root).parts[0] not in skip
    }


def changed_files(root: Path, digests: dict[str, str]) -> list[Path]:
    """The files of `digests` under `root` that are missing or no longer match their sha256."""
    bad = []
    for rel, digest in sorted(digests.items()):
        path = Path(root) / rel
        try:
            ok = path.is_file() and not path.is_symlink() and file_digest(path) == digest
        except OSError:
            ok = False
        if not ok:
            bad.append(path)
    return bad


def set_aside(path: Path) -> Path:
    """Move a file that cannot be used (a torn or foreign checkpoint) into `attempts/` next to
    it, never deleting it; return where it went."""

    path = Path(path)
    keep = inside(path.parent, "attempts") / f"{path.stem}-{int(time.time())}{path.suffix}"
    keep.parent.mkdir(exist_ok=True)
    path.rename(keep)
    return keep


def stable_hash(obj: Any, length: int = 12) -> str:
    """Hex digest of an object's canonical JSON: equal configs always give equal names."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


def seed_hash(*parts: Any) -> int:
    """A 31-bit seed derived from any parts (DomainBed's seed_hash idea).

    Each consumer (split, generator shard, epoch) gets its own stream, so adding one never shifts
    the random numbers of another.
    """
    return int(stable_hash([str(p) for p in parts], 8), 16) % (2**31)
