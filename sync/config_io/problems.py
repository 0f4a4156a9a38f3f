"""Problems found in a configuration file, each tied to a path inside the file."""

from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as _

# A path inside the document: keys and list indexes, e.g. ("tables", 2, "mappings", 0, "transform").
Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """``("tables", 2, "name")`` → ``tables[2].name``; the empty path is the document itself."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or _("(top level)")


def related(first: Path, second: Path) -> bool:
    """Whether one path is the other or lies inside it."""
    shorter = min(len(first), len(second))
    return first[:shorter] == second[:shorter]


class ConfigError(Exception):
    """A configuration file was refused; ``messages`` lists every reason."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = list(messages)


class Problems:
    """Collects ``(path, message)`` pairs without repeats.

    Messages come out in the order they were found, or sorted by ``order(path)``
    when given (e.g. the order of the keys in the file).
    """

    def __init__(self, order: Callable[[Path], Any] | None = None):
        self._items: list[tuple[Path, str]] = []
        self._order = order

    def __bool__(self):
        return bool(self._items)

    def __len__(self):
        return len(self._items)

    def add(self, path: Path, message: str) -> None:
        item = (tuple(path), str(message))
        if item not in self._items:
            self._items.append(item)

    def near(self, path: Path) -> bool:
        """Whether a problem was already reported at ``path``, inside it or around it."""
        return any(related(found, tuple(path)) for found, _message in self._items)

    def messages(self) -> list[str]:
        items = sorted(self._items, key=lambda item: self._order(item[0])) if self._order else self._items
        return [_("%(path)s: %(message)s") % {"path": format_path(path), "message": text} for path, text in items]

    def raise_if_any(self) -> None:
        if self._items:
            raise ConfigError(self.messages())
