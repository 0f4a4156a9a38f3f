"""A real SFTP server on 127.0.0.1 for the file connection's tests: asyncssh in a thread of its own.

The server has a throwaway Ed25519 host key (:attr:`SftpServer.host_key_line` is what ``ssh-keyscan``
would print), takes one user with a password or a public key, and serves ``root`` as ``/`` (chrooted).
It notes every authentication attempt (:attr:`SftpServer.auth_attempts`), so a test can tell that a
client refused the server before sending any credential. Use it as a context manager::

    with SftpServer(tmp_path) as server:
        ...  # connect to 127.0.0.1:server.port
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import asyncssh

START_TIMEOUT = 10


class _Auth(asyncssh.SSHServer):
    def __init__(self, server: SftpServer):
        self.server = server

    def begin_auth(self, username: str) -> bool:
        self.server.auth_attempts.append(username)
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self.server.username and password == self.server.password

    def public_key_auth_supported(self) -> bool:
        return self.server.client_key is not None

    def validate_public_key(self, username: str, key) -> bool:
        allowed = self.server.client_key
        return username == self.server.username and allowed is not None and key == allowed


class SftpServer:
    """An SFTP server serving ``root``; :meth:`start` and :meth:`stop`, or ``with``."""

    def __init__(
        self,
        root: Path,
        *,
        username: str = "erp",
        password: str = "s3cret-pass",  # noqa: S107 - the test server's own
        client_key=None,
    ):
        self.root = Path(root)
        self.username, self.password = username, password
        self.client_key = client_key  # an asyncssh public key the user may log in with, or None
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.auth_attempts: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._listener = None

    @property
    def host_key_line(self) -> str:
        """The host's public key as ssh-keyscan prints it (without the host name)."""
        return self.host_key.export_public_key().decode().strip()

    def start(self) -> SftpServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sftp-server", daemon=True)
        self._thread.start()
        self._listener = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(START_TIMEOUT)
        self.port = self._listener.sockets[0].getsockname()[1]
        return self

    async def _listen(self):
        return await asyncssh.listen(
            "127.0.0.1",
            self.port,
            server_host_keys=[self.host_key],
            server_factory=lambda: _Auth(self),
            sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=str(self.root).encode()),
            allow_scp=False,
        )

    async def _close(self):
        self._listener.close()
        await self._listener.wait_closed()

    def stop(self) -> None:
        """Stop listening and drop the sessions; the port is then closed (a client is refused)."""
        if self._loop is None:
            return
        if self._listener is not None:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(START_TIMEOUT)
            self._listener = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> SftpServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
