"""One registry mechanism for the names users type: architectures, datasets, methods, augmentations
and distances. Internal tables (layers of an architecture, augmentation ops) are plain dicts read
through `lookup`, so every unknown name is reported the same way."""

from __future__ import annotations

import fnmatch
from typing import Callable, Generic, Iterator, Mapping, TypeVar

T = TypeVar("T")


def lookup(table: Mapping[str, T], name: str, kind: str) -> T:
    """`table[name]`, or a ValueError naming the known entries."""
    try:
        return table[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name
        known = ", ".join(table) or "(none)"
        raise ValueError(f"unknown {kind} {name!r}; known: {known}") from None


class Registry(Generic[T]):
    """A name -> object table that refuses duplicates and names the known entries on a miss."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: register the object under `name` (default: its `__name__`)."""

        def decorator(obj: T) -> T:
            self.add(name or obj.__name__, obj)  # type: ignore[attr-defined]
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        return lookup(self._entries, name, self.kind)

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style wildcard, in registration order."""
        return [n for n in self._entries if fnmatch.fnmatchcase(n, pattern)]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
