"""The folders of a file connection, here or on an SFTP server: list the files waiting, fetch, move, put.

A :class:`Folder` lists the files of its inbox whose names match a pattern (a glob such as ``NF_*.csv``;
hidden files, being written by someone, are left out), oldest first; fetches one into a local file to
read; moves one into a sibling folder (``processed``, ``failed``) without overwriting a namesake; and puts
a local file in, under a temporary name renamed once complete. Every failure is a ``ConnectorError`` in
words. The SFTP folder (:mod:`.sftp`) checks the server's host key against the pinned one before any
credential is sent.
"""

from __future__ import annotations

import fnmatch
import os
import posixpath
import secrets
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass

from core import stored_messages as stored

from ..base import ConnectorError
from .atomic import TEMPORARY_SUFFIX

PROCESSED, FAILED = "processed", "failed"


@dataclass(frozen=True)
class WaitingFile:
    """A file of the inbox: its name (no folder), size in bytes and when it was last written (epoch seconds)."""

    name: str
    size: int
    modified: float


def matching(names_sizes, pattern: str) -> list[WaitingFile]:
    """The files whose names match ``pattern`` (case-sensitive), hidden ones left out, oldest first."""
    found = [
        entry
        for entry in names_sizes
        if not entry.name.startswith(".") and fnmatch.fnmatchcase(entry.name, pattern or "*")
    ]
    return sorted(found, key=lambda entry: (entry.modified, entry.name))


def free_name(name: str, taken) -> str:
    """``name``, or ``stem-<random>.ext`` when ``taken(name)`` says a file of that name is there already."""
    if not taken(name):
        return name
    stem, extension = os.path.splitext(name)
    return f"{stem}-{secrets.token_hex(4)}{extension}"


class Folder(ABC):
    """The inbox of a file connection and its sibling folders."""

    def __init__(self, inbox: str, processed: str = "", failed: str = ""):
        self.inbox = inbox
        self.elsewhere = {PROCESSED: processed or PROCESSED, FAILED: failed or FAILED}

    @property
    @abstractmethod
    def where(self) -> str:
        """The inbox as people read it (``/srv/erp/out``, ``sftp://host:22/out``)."""

    @abstractmethod
    def waiting(self, pattern: str) -> list[WaitingFile]:
        """The files of the inbox matching ``pattern``, oldest first."""

    @abstractmethod
    def fetch(self, name: str, into: str) -> str:
        """The local path of the file ``name`` to read (a copy made in the folder ``into`` when it is remote)."""

    @abstractmethod
    def move(self, name: str, to: str) -> str:
        """Move ``name`` from the inbox into the folder ``to`` (PROCESSED or FAILED); returns its name there."""

    @abstractmethod
    def put(self, local_path: str, name: str) -> None:
        """Write the local file into the inbox as ``name``, complete or not at all."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the connection."""


class LocalFolder(Folder):
    """A folder of the portal's own server."""

    @property
    def where(self) -> str:
        return self.inbox

    def _target(self, to: str) -> str:
        return os.path.join(self.inbox, self.elsewhere[to])

    def waiting(self, pattern: str) -> list[WaitingFile]:
        try:
            with os.scandir(self.inbox) as entries:
                found = [
                    WaitingFile(entry.name, stat.st_size, stat.st_mtime)
                    for entry in entries
                    if entry.is_file(follow_symlinks=False)
                    for stat in (entry.stat(follow_symlinks=False),)
                ]
        except OSError as error:
            raise ConnectorError(
                stored.gettext("The folder %(folder)s cannot be read: %(reason)s", folder=self.inbox, reason=_os(error))
            ) from None
        return matching(found, pattern)

    def fetch(self, name: str, into: str) -> str:
        return os.path.join(self.inbox, name)

    def move(self, name: str, to: str) -> str:
        folder = self._target(to)
        try:
            os.makedirs(folder, exist_ok=True)
            moved = free_name(name, lambda candidate: os.path.lexists(os.path.join(folder, candidate)))
            os.rename(os.path.join(self.inbox, name), os.path.join(folder, moved))
        except OSError as error:
            raise ConnectorError(
                stored.gettext(
                    "%(file)s could not be moved to %(folder)s: %(reason)s", file=name, folder=folder, reason=_os(error)
                )
            ) from None
        return moved

    def put(self, local_path: str, name: str) -> None:
        temporary = os.path.join(self.inbox, f".{name}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}")
        try:
            with open(local_path, "rb") as source, open(temporary, "xb") as copy:
                shutil.copyfileobj(source, copy)
                copy.flush()
                os.fsync(copy.fileno())
            os.replace(temporary, os.path.join(self.inbox, name))
        except OSError as error:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise ConnectorError(
                stored.gettext(
                    "%(file)s could not be written in %(folder)s: %(reason)s",
                    file=name,
                    folder=self.inbox,
                    reason=_os(error),
                )
            ) from None


def remote_path(folder: str, name: str) -> str:
    return posixpath.join(folder, name) if folder else name


def _os(error: OSError) -> str:
    return error.strerror or str(error)
