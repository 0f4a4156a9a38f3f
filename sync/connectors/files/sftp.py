"""A file connection's folders on an SFTP server (paramiko), the server's host key pinned.

The connection is opened by hand (``paramiko.Transport``, no ``SSHClient`` and no host-key policy): the
key exchange is asked for the pinned key's type only, the key the server presents is compared with the
pinned one, and only when they are the same are the username and the password or private key sent. A
server presenting another key is refused in words naming both fingerprints; nothing was sent to it.
The address is checked against the outbound policy (:mod:`core.outbound`) before connecting.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import secrets
import socket
import stat

import paramiko

from core import outbound
from core import stored_messages as stored

from ..base import ConnectorError
from .atomic import TEMPORARY_SUFFIX
from .folders import Folder, WaitingFile, free_name, matching, remote_path
from .ssh_keys import KeyProblem, parse_host_key, parse_private_key

RSA_ALGORITHMS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


class SftpFolder(Folder):
    """The inbox (and its sibling folders) on an SFTP server; connects on first use."""

    def __init__(self, config, inbox: str, processed: str = "", failed: str = ""):
        super().__init__(inbox, processed, failed)
        self.config = config
        self.transport: paramiko.Transport | None = None
        self.client: paramiko.SFTPClient | None = None

    @property
    def where(self) -> str:
        return f"sftp://{self.config.sftp_host}:{self.config.sftp_port}/{self.inbox.lstrip('/')}"

    # ------------------------------------------------------------ the connection

    def sftp(self) -> paramiko.SFTPClient:
        if self.client is None:
            self.client = self._connect()
        return self.client

    def _connect(self) -> paramiko.SFTPClient:
        config = self.config
        host, port = config.sftp_host.strip(), config.sftp_port
        try:
            pinned = parse_host_key(config.sftp_host_key)
        except KeyProblem as problem:
            raise ConnectorError(problem.message) from None
        sock = self._socket(host, port)
        transport = paramiko.Transport(sock)
        self.transport = transport
        transport.get_security_options().key_types = host_key_algorithms(pinned)
        try:
            transport.start_client(timeout=config.timeout_seconds)
        except (paramiko.SSHException, OSError, EOFError) as error:
            self.close()
            raise ConnectorError(
                stored.gettext(
                    "The SFTP server %(server)s did not complete the SSH handshake (it may not offer a %(type)s host "
                    "key, the pinned key's type): %(reason)s",
                    server=f"{host}:{port}",
                    type=pinned.get_name(),
                    reason=str(error) or type(error).__name__,
                ),
                retryable=isinstance(error, OSError | EOFError),
            ) from None
        presented = transport.get_remote_server_key()
        if presented.get_name() != pinned.get_name() or presented.asbytes() != pinned.asbytes():
            self.close()
            raise ConnectorError(
                stored.gettext(
                    "The SFTP server %(server)s presented the host key %(presented)s (%(type)s), not the pinned key "
                    "%(pinned)s: it may not be the server you configured. No credential was sent. If the server's key "
                    "really changed, pin the new one.",
                    server=f"{host}:{port}",
                    presented=presented.fingerprint,
                    type=presented.get_name(),
                    pinned=pinned.fingerprint,
                )
            )
        self._authenticate(transport)
        try:
            return paramiko.SFTPClient.from_transport(transport)
        except (paramiko.SSHException, OSError) as error:
            self.close()
            raise ConnectorError(
                stored.gettext("The server %(server)s offers no SFTP: %(reason)s", server=host, reason=str(error))
            ) from None

    def _socket(self, host: str, port: int) -> socket.socket:
        where = f"{host}:{port}"
        try:
            addresses = outbound.checked_addresses(host, port)
        except outbound.OutboundRefused as refused:
            raise ConnectorError(
                stored.gettext(
                    "The connection to %(server)s was refused: %(reason)s.", server=where, reason=refused.reason
                )
            ) from None
        except socket.gaierror:
            raise ConnectorError(
                stored.gettext("The SFTP host %(host)s is not known (DNS).", host=host), retryable=True
            ) from None
        failure: OSError | None = None
        for address in addresses:
            try:
                return socket.create_connection((address, port), timeout=self.config.timeout_seconds)
            except OSError as error:
                failure = error
        raise ConnectorError(
            stored.gettext(
                "Could not connect to the SFTP server %(server)s: %(reason)s",
                server=where,
                reason=(failure.strerror if failure else "") or str(failure),
            ),
            retryable=True,
        )

    def _authenticate(self, transport: paramiko.Transport) -> None:
        config = self.config
        try:
            if config.private_key:
                transport.auth_publickey(config.username, parse_private_key(config.private_key))
            else:
                transport.auth_password(config.username, config.password)
        except KeyProblem as problem:
            self.close()
            raise ConnectorError(problem.message) from None
        except paramiko.AuthenticationException:
            self.close()
            raise ConnectorError(
                stored.gettext(
                    "The SFTP server %(server)s refused the user %(user)s with this %(credential)s.",
                    server=f"{config.sftp_host}:{config.sftp_port}",
                    user=config.username,
                    credential=stored.gettext("private key") if config.private_key else stored.gettext("password"),
                )
            ) from None
        except (paramiko.SSHException, OSError, EOFError) as error:
            self.close()
            raise ConnectorError(
                stored.gettext(
                    "The SFTP server dropped the connection while logging in: %(reason)s", reason=str(error)
                ),
                retryable=True,
            ) from None

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # ------------------------------------------------------------ the folders

    def _failure(self, message: stored.StoredMessage) -> ConnectorError:
        return ConnectorError(message, retryable=True)

    def waiting(self, pattern: str) -> list[WaitingFile]:
        try:
            entries = self.sftp().listdir_attr(self.inbox or ".")
        except (OSError, paramiko.SSHException) as error:
            raise self._failure(
                stored.gettext(
                    "The folder %(folder)s cannot be read: %(reason)s", folder=self.where, reason=_why(error)
                )
            ) from None
        files = [
            WaitingFile(entry.filename, entry.st_size or 0, float(entry.st_mtime or 0))
            for entry in entries
            if entry.st_mode is not None and stat.S_ISREG(entry.st_mode)
        ]
        return matching(files, pattern)

    def fetch(self, name: str, into: str) -> str:
        local = os.path.join(into, f"{secrets.token_hex(6)}-{os.path.basename(name)}")
        try:
            self.sftp().get(remote_path(self.inbox, name), local, prefetch=True)
        except FileNotFoundError:
            raise
        except (OSError, paramiko.SSHException) as error:
            raise self._failure(
                stored.gettext("%(file)s could not be downloaded: %(reason)s", file=name, reason=_why(error))
            ) from None
        return local

    def _exists(self, path: str) -> bool:
        try:
            self.sftp().stat(path)
        except FileNotFoundError:
            return False
        return True

    def move(self, name: str, to: str) -> str:
        folder = posixpath.join(self.inbox, self.elsewhere[to])
        try:
            if not self._exists(folder):
                self.sftp().mkdir(folder)
            moved = free_name(name, lambda candidate: self._exists(posixpath.join(folder, candidate)))
            self.sftp().rename(remote_path(self.inbox, name), posixpath.join(folder, moved))
        except (OSError, paramiko.SSHException) as error:
            raise self._failure(
                stored.gettext(
                    "%(file)s could not be moved to %(folder)s: %(reason)s",
                    file=name,
                    folder=folder,
                    reason=_why(error),
                )
            ) from None
        return moved

    def put(self, local_path: str, name: str) -> None:
        temporary = remote_path(self.inbox, f".{name}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}")
        try:
            self.sftp().put(local_path, temporary, confirm=True)
            self.sftp().posix_rename(temporary, remote_path(self.inbox, name))
        except (OSError, paramiko.SSHException) as error:
            with contextlib.suppress(OSError, paramiko.SSHException):  # the upload never started: nothing to remove
                self.sftp().remove(temporary)
            raise self._failure(
                stored.gettext(
                    "%(file)s could not be uploaded to %(folder)s: %(reason)s",
                    file=name,
                    folder=self.where,
                    reason=_why(error),
                )
            ) from None


def host_key_algorithms(pinned: paramiko.PKey) -> list[str]:
    """The host key algorithms the key exchange may choose: the pinned key's only."""
    name = pinned.get_name()
    return list(RSA_ALGORITHMS) if name == "ssh-rsa" else [name]


def _why(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error) or type(error).__name__
