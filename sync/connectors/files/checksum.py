"""A file's SHA-256, streamed: what tells a file already processed from a new one."""

from __future__ import annotations

import hashlib
import os

CHUNK = 1024 * 1024


def sha256_of(source) -> str:
    """The hex SHA-256 of ``source``: a path, or a binary stream read from where it is to its end."""
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as stream:
            return sha256_of(stream)
    digest = hashlib.sha256()
    while chunk := source.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()
