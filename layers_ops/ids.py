"""Public identifiers: a short type prefix and a ULID, e.g. ``prj_01HX9Y7K8M2P4RSTUV56789AB``."""

from ulid import ULID


def prefixed_ulid(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def new_request_id() -> str:
    """The id every HTTP answer carries in ``X-Request-Id`` and its error envelope."""
    return prefixed_ulid("req")
