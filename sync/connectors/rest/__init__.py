"""The REST connector (:mod:`.connector`), its paging (:mod:`.listing`), auth (:mod:`.auth`) and pure helpers."""

from .auth import token_lifetime
from .connector import RestConnector
from .queries import (
    answered_count,
    collection_path,
    incremental_params,
    merge_filters,
    odata_key_filter,
    odata_literal,
    odata_next_skip,
    record_path,
    reported_total,
    says_no_more,
    split_method,
    with_query,
)

__all__ = [
    "RestConnector",
    "answered_count",
    "collection_path",
    "incremental_params",
    "merge_filters",
    "odata_key_filter",
    "odata_literal",
    "odata_next_skip",
    "record_path",
    "reported_total",
    "says_no_more",
    "split_method",
    "token_lifetime",
    "with_query",
]
