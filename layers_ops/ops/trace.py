"""The id of the web request being served, for code that has no ``request``: the job
engine carries it into the jobs a request defers, and JSON log lines carry it."""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
