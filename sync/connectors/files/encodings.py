"""Text files as lines of text: the encoding told apart, each line decoded with its number.

ERPs write UTF-8 (with or without a byte order mark) or Windows-1252, which they often call
Latin-1. A file is read as UTF-8 when every byte of it decodes strictly as UTF-8, and as
Windows-1252 otherwise: Portuguese text written in Windows-1252 is practically never valid
UTF-8 (an accented letter is a byte from 0xC0 up, never followed by the 0x80-0xBF byte UTF-8
would need). Strict decoding over the whole file is exact and streams in bounded memory;
charset-normalizer guesses among dozens of code pages from a sample, which for short
Portuguese text can name the wrong one (cp1250, mac_roman), so it is not used.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO

from core import stored_messages as stored

from .limits import DEFAULT_LIMITS, Limits, size_in_words
from .rows import FileError

UTF8 = "utf-8"
UTF8_BOM = "utf-8-sig"
WINDOWS_1252 = "cp1252"
LATIN_1 = "latin-1"
ASCII = "ascii"

# Encodings a file may declare, by the name Python's codecs give them, with the name people know.
_KNOWN = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8",
    "cp1252": "Windows-1252",
    "iso8859-1": "Latin-1 (ISO-8859-1)",
    "ascii": "ASCII",
}
_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
CHUNK = 1024 * 1024
SNIFFED = 64 * 1024  # the start of a file checked for NUL bytes (a binary file or UTF-16 without a mark)


def canonical(encoding: str) -> str:
    """The codec name of a declared ``encoding``; a :class:`FileError` when the readers cannot use it.

    Only encodings in which a line ends with the byte 0x0A can be split into lines before decoding.
    """
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = ""
    if name not in _KNOWN:
        raise FileError(
            stored.gettext(
                'The encoding "%(encoding)s" cannot be read: files may be in UTF-8, Windows-1252, Latin-1 or ASCII.',
                encoding=encoding,
            )
        )
    return name


def name_in_words(encoding: str) -> str:
    return _KNOWN.get(canonical(encoding), encoding)


def detect_encoding(stream: BinaryIO, limits: Limits = DEFAULT_LIMITS) -> str:
    """``utf-8-sig`` (a byte order mark), ``utf-8`` or ``cp1252``, reading the whole stream once.

    Leaves the stream at its start. Refuses a UTF-16 file and a file holding NUL bytes near its
    start (a spreadsheet or another binary file dropped where text was expected).
    """
    stream.seek(0)
    decoder = codecs.getincrementaldecoder(UTF8)("strict")
    first = stream.read(CHUNK)
    _refuse_binary(first[:SNIFFED])
    encoding = UTF8_BOM if first.startswith(_BOM) else UTF8
    chunk, read = first, 0
    while chunk:
        read += len(chunk)
        _check_growth(read, limits)
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            encoding = WINDOWS_1252
            break
        chunk = stream.read(CHUNK)
    else:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:  # the file ends in the middle of a UTF-8 sequence
            encoding = WINDOWS_1252
    stream.seek(0)
    return encoding


def decoded_lines(
    stream: BinaryIO, encoding: str, limits: Limits = DEFAULT_LIMITS, *, detected: bool = False
) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for each line of ``stream``, its line ending kept (``\\n`` or ``\\r\\n``).

    A line longer than ``limits.max_line_bytes`` or a byte that is no character of ``encoding`` is a
    :class:`FileError` naming the line; the lines before it have been yielded. ``detected``: the
    encoding was told by :func:`detect_encoding`, not declared (the words of an error say so).
    """
    codec = canonical(encoding)
    utf8 = codec in (UTF8, UTF8_BOM)
    read = number = 0
    while line := stream.readline(limits.max_line_bytes + 1):
        number += 1
        read += len(line)
        _check_growth(read, limits)
        if len(line) > limits.max_line_bytes:
            raise FileError(
                stored.gettext(
                    "Line %(line)d is longer than %(limit)s: it was not read, nor anything after it.",
                    line=number,
                    limit=size_in_words(limits.max_line_bytes),
                )
            )
        if number == 1 and utf8 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        try:
            text = line.decode(UTF8 if utf8 else codec)
        except UnicodeDecodeError as error:
            raise _undecodable(line, number, error, UTF8 if utf8 else codec, detected) from None
        yield number, text


def _undecodable(line: bytes, number: int, error: UnicodeDecodeError, codec: str, detected: bool) -> FileError:
    column = len(line[: error.start].decode(codec, errors="replace")) + 1
    byte = f"0x{line[error.start]:02X}"
    if detected:
        message = stored.gettext(
            "Line %(line)d cannot be read: the byte %(byte)s at column %(column)d is a character neither in "
            "UTF-8 nor in Windows-1252. Save the file as UTF-8 or declare its encoding.",
            line=number,
            byte=byte,
            column=column,
        )
    else:
        message = stored.gettext(
            "Line %(line)d cannot be read as %(encoding)s: the byte %(byte)s at column %(column)d is not a "
            "character of it. Save the file as %(encoding)s or declare its encoding.",
            line=number,
            encoding=_KNOWN[codec],
            byte=byte,
            column=column,
        )
    return FileError(message)


def _refuse_binary(start: bytes) -> None:
    if start.startswith(_UTF16_BOMS):
        raise FileError(
            stored.gettext("The file is in UTF-16, which cannot be read: save it as UTF-8 or Windows-1252.")
        )
    if b"\x00" in start:
        raise FileError(
            stored.gettext(
                "The file holds NUL bytes, so it is not a text file (a spreadsheet, or text in UTF-16?): it was "
                "not read."
            )
        )


def _check_growth(read: int, limits: Limits) -> None:
    """A file that grew past the limit while it was read (still being written) is refused there."""
    if read > limits.max_file_bytes:
        raise FileError(
            stored.gettext(
                "The file grew past %(limit)s while it was read: it was not read further.",
                limit=size_in_words(limits.max_file_bytes),
            )
        )
