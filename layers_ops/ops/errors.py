"""Error reporting to Sentry, when ``SENTRY_DSN`` is set (settings call ``sentry_init``).

Unhandled errors (the API's 500s log them with ``logger.exception``) and error logs are
sent with the request id; request bodies, cookies and the key headers never are.
"""

SCRUBBED_HEADERS = {"authorization", "x-api-key", "cookie", "proxy-authorization"}


def _scrub(event, hint):
    request = event.get("request") or {}
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {
            name: "[Filtered]" if name.lower() in SCRUBBED_HEADERS else value
            for name, value in headers.items()
        }
    request.pop("cookies", None)
    request.pop("data", None)
    return event


def sentry_init(*, dsn: str, environment: str = "", transport=None) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        integrations=[DjangoIntegration()],
        max_request_body_size="never",
        include_local_variables=False,  # a frame's variables may hold a key being checked
        traces_sample_rate=0,
        before_send=_scrub,
        transport=transport,
    )
