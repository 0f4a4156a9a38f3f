"""Which fields of a form apply to the choice made in one of its selects (a connection's kind, its
authentication, an integration's schedule).

The page shows only those (``static/portal/shown_fields.js`` reads :func:`select_attrs` off the
select); on save, the form blanks the others (:func:`blank_unused`), so a value typed before the
choice changed is neither kept unseen nor refused for a field nobody sees.
"""

import json

from .choices import (
    AuthKind,
    ConnectionKind,
    FileDelimiter,
    FileEncoding,
    FileFormat,
    FileLocation,
    ScheduleKind,
    WebhookScheme,
)

# The settings of a connection of kind file (folders, format, SFTP server), in the order the forms show them.
FILE_FIELDS = (
    "file_location",
    "file_folder",
    "file_processed_folder",
    "file_failed_folder",
    "file_format",
    "file_encoding",
    "file_delimiter",
    "file_decimal_comma",
    "file_number_columns",
    "file_header_row",
    "file_sheet",
    "file_layout",
    "file_skip_lines",
    "sftp_host",
    "sftp_port",
    "sftp_host_key",
)

# Fields shown only for some values of a select: field name -> the values it applies to.
CONNECTION_KIND_FIELDS = {
    **dict.fromkeys(
        (
            "base_url",
            "test_path",
            "page_parameter",
            "size_parameter",
            "next_path",
            "result_cap",
            "column_names_path",
        ),
        (ConnectionKind.REST,),
    ),
    **dict.fromkeys(
        ("wsdl_url", "wsdl_upload", "wsdl_document", "soap_service", "soap_port", "endpoint_url"),
        (ConnectionKind.SOAP,),
    ),
    **dict.fromkeys(FILE_FIELDS, (ConnectionKind.FILE,)),
}
# A file connection's fields that apply to one location (the SFTP server's) or format: all show for the kind
# (their help says which), and saving blanks those of another location or format.
FILE_LOCATION_FIELDS = dict.fromkeys(("sftp_host", "sftp_port", "sftp_host_key"), (FileLocation.SFTP,))
FILE_FORMAT_FIELDS = {
    "file_delimiter": (FileFormat.CSV,),
    "file_encoding": (FileFormat.CSV, FileFormat.FIXED_WIDTH),
    "file_header_row": (FileFormat.XLSX,),
    "file_sheet": (FileFormat.XLSX,),
    "file_layout": (FileFormat.FIXED_WIDTH,),
    "file_skip_lines": (FileFormat.FIXED_WIDTH,),
}
# What a file field is set back to when it does not apply (its default).
FILE_BLANK_VALUES = {
    "file_location": FileLocation.LOCAL,
    "file_encoding": FileEncoding.AUTO,
    "file_delimiter": FileDelimiter.AUTO,
    "file_format": FileFormat.CSV,
    "file_decimal_comma": True,
    "file_header_row": 1,
    "file_layout": [],
    "file_skip_lines": 0,
    "sftp_port": 22,
}
AUTH_KIND_FIELDS = {
    "username": (AuthKind.BASIC, AuthKind.WSSE, AuthKind.SESSION, AuthKind.BODY, AuthKind.SSH_KEY),
    "password": (AuthKind.BASIC, AuthKind.WSSE, AuthKind.SESSION, AuthKind.BODY),
    "token": (AuthKind.BEARER,),
    "api_key_header": (AuthKind.API_KEY,),
    "api_key": (AuthKind.API_KEY, AuthKind.BODY, AuthKind.OAUTH2, AuthKind.OAUTH2_CODE),
    "oauth_authorize_url": (AuthKind.OAUTH2_CODE,),
    "oauth_token_url": (AuthKind.OAUTH2, AuthKind.OAUTH2_CODE),
    "client_id": (AuthKind.OAUTH2, AuthKind.OAUTH2_CODE, AuthKind.BODY),
    "client_secret": (AuthKind.OAUTH2, AuthKind.OAUTH2_CODE, AuthKind.BODY),
    "oauth_scope": (AuthKind.OAUTH2, AuthKind.OAUTH2_CODE),
    "login_path": (AuthKind.SESSION,),
    "login_body": (AuthKind.SESSION,),
    "body_credentials": (AuthKind.BODY,),
    "private_key": (AuthKind.SSH_KEY,),
    "token_headers": (AuthKind.OAUTH2, AuthKind.OAUTH2_CODE),
}
# What a JSON field is emptied to when its authentication is not chosen.
AUTH_BLANK_VALUES = {"login_body": {}, "body_credentials": {}, "token_headers": {}}
# The authentications each kind of connection offers (the model refuses the others).
AUTH_KINDS_OF = {
    ConnectionKind.REST: (
        AuthKind.NONE,
        AuthKind.BASIC,
        AuthKind.BEARER,
        AuthKind.API_KEY,
        AuthKind.OAUTH2,
        AuthKind.SESSION,
        AuthKind.BODY,
        AuthKind.OAUTH2_CODE,
    ),
    ConnectionKind.SOAP: (AuthKind.NONE, AuthKind.BASIC, AuthKind.WSSE),
    ConnectionKind.FILE: (AuthKind.NONE, AuthKind.BASIC, AuthKind.SSH_KEY),
}
SCHEDULE_FIELDS = {
    "schedule_interval_minutes": (ScheduleKind.INTERVAL,),
    "schedule_daily_time": (ScheduleKind.DAILY,),
    "schedule_cron": (ScheduleKind.CRON,),
}

# A webhook receiver's fields of one verification: the HubSpot app the portal registers the address at.
WEBHOOK_SCHEME_FIELDS = dict.fromkeys(("hubspot_app_id", "hubspot_developer_key"), (WebhookScheme.HUBSPOT_V3,))


def select_attrs(shows: dict, options_follow: tuple[str, dict] | None = None) -> dict:
    """The select's HTML attributes: the fields each of its values shows, and which of its options
    another select allows (``("kind", AUTH_KINDS_OF)``)."""
    attrs = {"data-shows": json.dumps({name: [str(value) for value in values] for name, values in shows.items()})}
    if options_follow:
        control, allowed = options_follow
        attrs["data-options-follow"] = control
        attrs["data-options"] = json.dumps(
            {str(key): [str(value) for value in values] for key, values in allowed.items()}
        )
    return attrs


def not_applying(chosen, shows: dict) -> set[str]:
    """The fields of ``shows`` that do not apply to ``chosen`` (left off a read-only page)."""
    return {name for name, values in shows.items() if chosen not in values}


def blank_unused(cleaned: dict, chosen, shows: dict, blank_values: dict | None = None) -> None:
    """Empty, in ``cleaned``, every field of ``shows`` that does not apply to ``chosen``."""
    blank_values = blank_values or {}
    for name, values in shows.items():
        if name in cleaned and chosen not in values:
            cleaned[name] = blank_values.get(name, "")
