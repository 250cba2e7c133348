"""Name -> class registries, resolved lazily.

A registry maps a name to the string "module:Class". Nothing is imported until a name is
looked up, so listing names never imports torch, and a method whose dependencies are missing
cannot break the others. An unknown name fails with close matches and the full list.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from typing import Any

from bench.errors import BenchError


class UnknownNameError(BenchError):
    """A method, dataset or launcher name that is not registered."""


def suggest(name: str, choices: list[str], n: int = 3) -> list[str]:
    """Close matches for a misspelt name: similar spellings first, then names containing it."""
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    contains = [c for c in choices if name and (name in c or c in name) and c not in close]
    return (close + contains)[:n]


def did_you_mean(name: str, choices: list[str], n: int = 3) -> str:
    """ " Did you mean 'a', 'b'?" naming the close matches of a misspelt name ("" when none):
    the one suggestion every unknown-name message carries."""
    hints = suggest(name, choices, n)
    return f" Did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""


def unknown_name_message(kind: str, name: str, choices: list[str]) -> str:
    hint = did_you_mean(name, choices)
    return f"unknown {kind} {name!r}.{hint} Available {kind}s: {', '.join(sorted(choices))}."


class Registry(Mapping[str, Any]):
    """A read-only mapping from names to lazily imported classes."""

    def __init__(self, kind: str, entries: Mapping[str, str]):
        self.kind = kind
        self._targets = dict(entries)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._targets:
            raise UnknownNameError(unknown_name_message(self.kind, name, list(self._targets)))
        if name not in self._loaded:
            self._loaded[name] = self._import(self._targets[name])
        return self._loaded[name]

    def __contains__(self, name: object) -> bool:  # a lookup without importing anything
        return name in self._targets

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def target(self, name: str) -> str:
        """The "module:Class" string behind a name (no import)."""
        self.check(name)
        return self._targets[name]

    def check(self, name: str) -> None:
        """Raise UnknownNameError (with suggestions) unless `name` is registered."""
        if name not in self._targets:
            raise UnknownNameError(unknown_name_message(self.kind, name, list(self._targets)))

    @staticmethod
    def _import(target: str) -> Any:
        module_name, _, attr = target.partition(":")
        return getattr(importlib.import_module(module_name), attr)
