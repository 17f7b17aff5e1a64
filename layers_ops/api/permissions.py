from rest_framework.permissions import BasePermission

from .authentication import confirm, is_unconfirmed
from .exceptions import ScopeMissing, Unauthenticated

# In ``required_scopes``: a method any valid key may call, whatever its scopes (whoami).
ANY_KEY = "any valid key"


def required_scope(view, method: str) -> str | None:
    """The scope ``method`` needs on ``view``: ``ANY_KEY``, a scope, or None when the view
    names none for a method it serves.

    HEAD is GET without the body (Django routes it to ``get()``), so it needs GET's scope
    on every view by construction; views never name HEAD.
    """
    method = "GET" if method == "HEAD" else method
    return getattr(view, "required_scopes", {}).get(method)


def serves(view, method: str) -> bool:
    """Whether ``view`` has a handler for ``method`` (else the answer is 405)."""
    name = method.lower()
    return name in view.http_method_names and hasattr(view, name)


class HasScope(BasePermission):
    """Needs a valid key, and the scope the view names for the method.

    Views set ``required_scopes = {"GET": "leased:read", "POST": "leased:write"}``
    (``ANY_KEY`` for a method any valid key may call). HEAD takes GET's scope. A method
    the view serves but does not name is refused (fail closed); a method it does not
    serve goes on to the 405.
    """

    def has_permission(self, request, view):
        api_key = request.auth
        if api_key is None:
            raise Unauthenticated()
        if is_unconfirmed(api_key):  # no rate limiter confirmed the cached key
            confirm(request)
            api_key = request.auth
        scope = required_scope(view, request.method)
        if scope is None:
            if serves(view, request.method):
                raise ScopeMissing(f"No API key may call {request.method} on this endpoint.")
            return True
        if scope != ANY_KEY and not api_key.grants(scope):
            raise ScopeMissing(f"This API key lacks the '{scope}' scope.")
        return True
