"""A file connection's settings: where its folders are (here or on an SFTP server) and how its files read.

:class:`FileDropSettings` is the part of ``Connection`` a connection of kind *file* uses; :func:`file_errors`
says, by field, what keeps such a settings from working (a relative or missing local folder, an SFTP server
without its pinned host key, a layout that does not parse).
"""

import os

from django.db import models
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.fields import EncryptedTextField

from .. import validators
from ..choices import AuthKind, FileDelimiter, FileEncoding, FileFormat, FileLocation
from ..connectors.files import InvalidLayout, parse_layout
from ..connectors.files.ssh_keys import KeyProblem, parse_host_key, parse_private_key

SFTP_PORT = (1, 65535)
HEADER_ROW = (1, 1000)
SKIP_LINES = (0, 1000)
# The authentications each file location offers.
FILE_AUTH_KINDS = {
    FileLocation.LOCAL: (AuthKind.NONE,),
    FileLocation.SFTP: (AuthKind.BASIC, AuthKind.SSH_KEY),
}


class FileDropSettings(models.Model):
    """The fields of a connection of kind *file* (blank for the other kinds)."""

    file_location = models.CharField(
        gettext_lazy("files are in"), max_length=10, choices=FileLocation.choices, default=FileLocation.LOCAL
    )
    file_folder = models.CharField(
        gettext_lazy("inbox folder"),
        max_length=500,
        blank=True,
        help_text=gettext_lazy(
            "Files: the folder the ERP drops its files in (read) or the portal writes them to, e.g. /srv/erp/out; "
            "on an SFTP server, as the server names it"
        ),
    )
    file_processed_folder = models.CharField(
        gettext_lazy("processed folder"),
        max_length=500,
        blank=True,
        help_text=gettext_lazy("Where a file goes once its rows went through; blank: processed/ in the inbox"),
    )
    file_failed_folder = models.CharField(
        gettext_lazy("failed folder"),
        max_length=500,
        blank=True,
        help_text=gettext_lazy("Where a file that cannot be read as a whole goes; blank: failed/ in the inbox"),
    )
    file_format = models.CharField(
        gettext_lazy("file format"), max_length=12, choices=FileFormat.choices, default=FileFormat.CSV
    )
    file_encoding = models.CharField(
        gettext_lazy("encoding"), max_length=10, choices=FileEncoding.choices, default=FileEncoding.AUTO
    )
    file_delimiter = models.CharField(
        gettext_lazy("separator"), max_length=4, choices=FileDelimiter.choices, default=FileDelimiter.AUTO
    )
    file_decimal_comma = models.BooleanField(
        gettext_lazy("decimal comma"),
        default=True,
        help_text=gettext_lazy("Numbers are written 1.234,56 (read and written so); off: 1234.56"),
    )
    file_number_columns = models.CharField(
        gettext_lazy("number columns"),
        max_length=500,
        blank=True,
        help_text=gettext_lazy(
            "Columns read as numbers, separated by commas, e.g. total, discount; a value that is no number puts "
            "its row in the review queue"
        ),
    )
    file_header_row = models.PositiveSmallIntegerField(
        gettext_lazy("header row"),
        default=1,
        validators=validators.number_range(*HEADER_ROW),
        help_text=gettext_lazy("XLSX: the sheet row that names the columns"),
    )
    file_sheet = models.CharField(
        gettext_lazy("sheet"), max_length=100, blank=True, help_text=gettext_lazy("XLSX: blank: the first sheet")
    )
    file_layout = models.JSONField(
        gettext_lazy("fixed-width layout"),
        default=list,
        blank=True,
        help_text=gettext_lazy(
            'Fixed width: the fields of a line, columns counted from 1, e.g. [{"name": "code", "start": 1, '
            '"length": 6}, {"name": "total", "start": 7, "end": 18}]'
        ),
    )
    file_skip_lines = models.PositiveSmallIntegerField(
        gettext_lazy("lines to skip"),
        default=0,
        validators=validators.number_range(*SKIP_LINES),
        help_text=gettext_lazy("Fixed width: lines at the top that hold no record (a heading)"),
    )
    sftp_host = models.CharField(gettext_lazy("SFTP host"), max_length=255, blank=True)
    sftp_port = models.PositiveIntegerField(
        gettext_lazy("SFTP port"), default=22, validators=validators.number_range(*SFTP_PORT)
    )
    sftp_host_key = models.TextField(
        gettext_lazy("SFTP host key"),
        blank=True,
        help_text=gettext_lazy(
            "The server's public host key, as ssh-keyscan or known_hosts write it, e.g. ssh-ed25519 AAAAC3Nza…; "
            "a server presenting another key is refused before any credential is sent"
        ),
    )
    private_key = EncryptedTextField(gettext_lazy("SSH private key"), blank=True)

    class Meta:
        abstract = True


def file_errors(connection) -> dict[str, list]:
    """What keeps the file settings of ``connection`` from working, by field."""
    errors: dict[str, list] = {}
    if not connection.file_folder.strip():
        errors["file_folder"] = [_("A file connection needs its inbox folder.")]
    elif connection.file_location == FileLocation.LOCAL:
        errors["file_folder"] = _local_folder_problems(connection.file_folder)
    allowed = FILE_AUTH_KINDS.get(connection.file_location, ())
    if connection.auth_kind not in allowed:
        errors["auth_kind"] = [
            _("A folder of this server needs no authentication: choose None.")
            if connection.file_location == FileLocation.LOCAL
            else _("An SFTP server takes a username with a password or with an SSH private key.")
        ]
    if connection.file_location == FileLocation.SFTP:
        errors |= _sftp_errors(connection)
    if connection.file_format == FileFormat.FIXED_WIDTH:
        errors["file_layout"] = _layout_problems(connection.file_layout)
    elif connection.file_layout:
        errors["file_layout"] = [_("A layout applies to fixed-width files only: clear it.")]
    return {field: problems for field, problems in errors.items() if problems}


def _local_folder_problems(folder: str) -> list[str]:
    if not os.path.isabs(folder):
        return [_("Write the folder's whole path, from the root, e.g. /srv/erp/out.")]
    if not os.path.isdir(folder):
        return [_("There is no folder %(folder)s on this server.") % {"folder": folder}]
    return []


def _sftp_errors(connection) -> dict[str, list]:
    errors: dict[str, list] = {}
    if not connection.sftp_host.strip():
        errors["sftp_host"] = [_("An SFTP connection needs the server's host name or address.")]
    if not connection.sftp_host_key.strip():
        errors["sftp_host_key"] = [
            _(
                "Pin the server's host key (ssh-keyscan -t ed25519 host prints it): without it the server is not "
                "trusted."
            )
        ]
    else:
        try:
            parse_host_key(connection.sftp_host_key)
        except KeyProblem as problem:
            errors["sftp_host_key"] = [str(problem)]
    if connection.auth_kind == AuthKind.SSH_KEY and connection.private_key:
        try:
            parse_private_key(connection.private_key)
        except KeyProblem as problem:
            errors["private_key"] = [str(problem)]
    return errors


def _layout_problems(layout) -> list[str]:
    if not isinstance(layout, list) or not layout:
        return [_('Declare the fields of a line, e.g. [{"name": "code", "start": 1, "length": 6}].')]
    try:
        parse_layout(layout)
    except InvalidLayout as error:
        return [str(error.message)]
    return []
