"""One connector per port kind behind the small interface of :mod:`sync.connectors.base`."""

from core import stored_messages as stored
from sync.choices import ConnectionKind


def connector_for(config, call_log=None, budget=None, tokens=None):
    """The connector for ``config.kind``; modules are imported lazily (SOAP pulls in zeep).

    ``budget``: the connection's shared rate budget (:class:`.throttle.Budget`); None keeps one in the process.
    ``tokens``: an OAuth2 authorization-code connection's token store (:class:`.rest.oauth_code.TokenStore`).
    """
    from .base import ConnectorError

    if config.kind == ConnectionKind.REST:
        from .rest import RestConnector

        return RestConnector(config, call_log, budget, tokens)
    if config.kind == ConnectionKind.SOAP:
        from .soap import SoapConnector

        return SoapConnector(config, call_log, budget)
    if config.kind == ConnectionKind.FILE:
        from .files.connector import FileConnector

        return FileConnector(config, call_log)
    raise ConnectorError(stored.gettext('Connections of kind "%(kind)s" cannot be used yet.', kind=config.kind))
