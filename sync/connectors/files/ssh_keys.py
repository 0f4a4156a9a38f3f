"""SSH keys as people paste them: a server's public host key (pinned) and a private key to log in with.

A host key is written as ``ssh-keyscan`` or ``known_hosts`` write it (``[host] type base64 [comment]``);
a private key as an OpenSSH or PEM block. Both are read by paramiko; what it cannot read is a
:class:`KeyProblem` saying so in words.
"""

from __future__ import annotations

import base64
import binascii
import io

import paramiko

from core import stored_messages as stored

KEY_TYPE_PREFIXES = ("ssh-", "ecdsa-", "sk-")
PRIVATE_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class KeyProblem(Exception):
    """A key that cannot be read; ``message`` says why (a stored message)."""

    def __init__(self, message: stored.StoredMessage):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return str(self.message)


def parse_host_key(text: str) -> paramiko.PKey:
    """The public key ``text`` writes (``ssh-ed25519 AAAA…``, a host name before it and a comment after allowed)."""
    words = text.split()
    for index, word in enumerate(words[:-1]):
        if word.startswith(KEY_TYPE_PREFIXES):
            try:
                blob = base64.b64decode(words[index + 1], validate=True)
                return paramiko.PKey.from_type_string(word, blob)
            except (binascii.Error, ValueError, paramiko.SSHException, paramiko.UnknownKeyType):
                break
    raise KeyProblem(
        stored.gettext(
            "This is not a public host key: write it as ssh-keyscan prints it, e.g. ssh-ed25519 AAAAC3NzaC1lZDI1NTE5…"
        )
    )


def parse_private_key(text: str) -> paramiko.PKey:
    """The private key of the OpenSSH or PEM block ``text`` (without a passphrase)."""
    for key_class in PRIVATE_KEY_CLASSES:
        try:
            return key_class.from_private_key(io.StringIO(text.strip() + "\n"))
        except paramiko.PasswordRequiredException:
            raise KeyProblem(
                stored.gettext("This private key is protected by a passphrase: give one without.")
            ) from None
        except (paramiko.SSHException, ValueError, IndexError, TypeError):
            continue
    raise KeyProblem(
        stored.gettext("This is not a private key the portal can read (OpenSSH or PEM: Ed25519, ECDSA or RSA).")
    )


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:…``, as ``ssh-keygen -l`` shows a key."""
    return key.fingerprint
