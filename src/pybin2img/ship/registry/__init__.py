"""A small client for the registry HTTP API (OCI distribution spec): exactly what a push needs."""

from .client import (
    RegistryClient,
    RetryPolicy,
    is_plain_http_allowed,
    parse_challenges,
    parse_retry_after,
)

__all__ = [
    "RegistryClient",
    "RetryPolicy",
    "is_plain_http_allowed",
    "parse_challenges",
    "parse_retry_after",
]
