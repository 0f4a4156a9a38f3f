"""Test connection: ask a connection what a sync would ask it first, and say what that proves."""

from . import budgets, oauth_tokens
from .connectors import connector_for, verdicts
from .connectors.base import ConnectionConfig, ConnectorError, ReadRequest, SampleRead, Verdict
from .models import Connection


def sample_read(connection: Connection) -> SampleRead | None:
    """The first read a sync makes from ``connection`` (its first page, no cursor); None when no table reads it."""
    table = connection.first_reading_table()
    if table is None:
        return None
    request = ReadRequest.for_table(table)
    return SampleRead(table=table.name, request=request)


def verdict_for(connection: Connection) -> Verdict:
    """Authenticate and read once as a sync would, and say in words what it proves (secrets left out)."""
    try:
        with connector_for(
            ConnectionConfig.from_model(connection),
            budget=budgets.for_connection(connection),
            tokens=oauth_tokens.for_connection(connection),
        ) as connector:
            return connector.test_connection(sample_read(connection))
    except ConnectorError as error:
        return verdicts.failed(error)
