from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from layers_ops.partners.services import api_key_from_token, api_key_touch

from .exceptions import Unauthenticated


class ApiKeyAuthentication(BaseAuthentication):
    """``Authorization: Bearer lp_<env>_<keyId>_<secret>``. ``request.auth`` is the ApiKey."""

    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header:
            return None
        if header[0].lower() != self.keyword or len(header) != 2:
            raise Unauthenticated("Send the key as 'Authorization: Bearer <key>'.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise Unauthenticated() from None
        api_key = api_key_from_token(token)
        if api_key is None:
            raise Unauthenticated("Unknown, malformed or revoked API key.")
        api_key_touch(api_key=api_key)
        return (None, api_key)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: `lp_<live|test>_<keyId>_<secret>`.",
        }
