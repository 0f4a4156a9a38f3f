"""Cut an answer off mid-body, the way a connection dropped mid-page looks to a client.

The status line and the headers go out with the full ``Content-Length``, then
part of the body, then the connection is shut down: the client reads a short
body and the end of the stream (requests raises ``ChunkedEncodingError``), never
a page it could take for complete. An answer without a body is dropped before
its status line (the client sees the connection closed without an answer).

WSGI gives an application no way to close its connection, so the socket is
reached where the server lets it be: gunicorn hands it over as
``gunicorn.socket``; Django's runserver and test server (wsgiref) read the
request from the connection's socket file, which ``wsgi.input`` wraps. Where
neither is found the body fails after the partial part, which WSGI servers
answer by closing the connection.
"""

import logging
import socket

from django.http import HttpResponse, StreamingHttpResponse

logger = logging.getLogger(__name__)


class AnswerDropped(ConnectionAbortedError):
    """Ends a cut answer's body where the connection's socket could not be reached."""


def cut_short(response: HttpResponse, environ: dict) -> StreamingHttpResponse:
    """``response`` with its full ``Content-Length`` but only the first half of its body, then no connection."""
    body = response.content
    cut = StreamingHttpResponse(_half_then_drop(body[: len(body) // 2], environ), status=response.status_code)
    for name, value in response.items():
        cut[name] = value
    cut["Content-Length"] = str(len(body))
    # A deliberate error answer (a simulated failure, a SOAP fault) stays logged as such, not as a crash.
    cut._has_been_logged = getattr(response, "_has_been_logged", False)
    return cut


def _half_then_drop(kept: bytes, environ: dict):
    if kept:
        yield kept  # the server writes it out before asking for more
    if not shut_down_connection(environ):
        raise AnswerDropped("The answer was cut off on purpose (the demo system's drop rate).")


def shut_down_connection(environ: dict) -> bool:
    """Shut the client connection of this request down both ways; False when it cannot be reached."""
    descriptor = connection_descriptor(environ)
    if descriptor is None:
        return False
    try:
        # A duplicate of the descriptor: shutting it down ends the connection, closing it leaves the server's own.
        with socket.fromfd(descriptor, socket.AF_INET, socket.SOCK_STREAM) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except OSError as exc:
        logger.info("Could not drop the connection on purpose: %s", exc)
        return False
    return True


def connection_descriptor(environ: dict) -> int | None:
    """The file descriptor of the request's connection, where the WSGI server lets it be reached."""
    stream = environ.get("wsgi.input")
    candidates = (
        environ.get("gunicorn.socket"),
        # Django's runserver wraps the connection's socket file in a LimitedStream that keeps its read method.
        getattr(getattr(stream, "_read", None), "__self__", None),
    )
    for candidate in candidates:
        try:
            descriptor = candidate.fileno()
        except (AttributeError, OSError, ValueError):
            continue
        if isinstance(descriptor, int) and descriptor >= 0:
            return descriptor
    return None
