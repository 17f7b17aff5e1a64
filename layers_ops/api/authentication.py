from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from layers_ops.partners.services import api_key_confirm, api_key_from_token, api_key_touch

from .exceptions import Unauthenticated

REFUSED = "Unknown, malformed or revoked API key."


def is_unconfirmed(api_key) -> bool:
    """A key served from the process's cache whose version no round trip has checked yet
    (``layers_ops.partners.keycache``)."""
    return getattr(api_key, "unconfirmed", None) is not None


def confirm(request, api_key=None) -> None:
    """Replace a cached key that could not be confirmed with the row as it is now
    (401 if it was revoked). The rate limiter confirms keys in its own round trip and
    calls this only when that failed; ``HasScope`` calls it for any key still unconfirmed."""
    fresh = api_key_confirm(api_key=api_key or request.auth)
    if fresh is None:
        raise Unauthenticated(REFUSED)
    request.auth = fresh


class ApiKeyAuthentication(BaseAuthentication):
    """``X-Api-Key: lp_<env>_<keyId>_<secret>`` or ``Authorization: Bearer lp_…``
    (``X-Api-Key`` wins when both are sent). ``request.auth`` is the ApiKey.

    The token is found in ``token_of`` and verified by ``api_key_from_token``; a key may
    come from the process's cache, unconfirmed until the request's Redis round trip (the
    rate limiter) or ``confirm`` checks it.
    """

    keyword = b"bearer"

    def token_of(self, request) -> str | None:
        """The key as sent: ``X-Api-Key`` if present, else the Bearer token; None if
        neither header is there."""
        header = request.META.get("HTTP_X_API_KEY")
        if header is not None:
            token = header.strip()
            if not token or not token.isascii():
                raise Unauthenticated("Send the key as 'X-Api-Key: <key>'.")
            return token
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword or len(header) != 2:
            raise Unauthenticated(
                "Send the key as 'X-Api-Key: <key>' or 'Authorization: Bearer <key>'."
            )
        try:
            return header[1].decode("ascii")
        except UnicodeDecodeError:
            raise Unauthenticated() from None

    def authenticate(self, request):
        token = self.token_of(request)
        if token is None:
            return None
        api_key = api_key_from_token(token)
        if api_key is None:
            raise Unauthenticated(REFUSED)
        api_key_touch(api_key=api_key)
        return (None, api_key)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = ["apiKeyAuth", "bearerAuth"]

    def get_security_requirement(self, auto_schema):
        return [{"apiKeyAuth": []}, {"bearerAuth": []}]  # either header

    def get_security_definition(self, auto_schema):
        description = (
            "An API key: `lp_<live|test>_<keyId>_<secret>`, in `X-Api-Key` or as a Bearer "
            "token (`X-Api-Key` wins when both are sent). `lp_test_` keys are test mode."
        )
        return [
            {"type": "apiKey", "in": "header", "name": "X-Api-Key", "description": description},
            {"type": "http", "scheme": "bearer", "description": description},
        ]
