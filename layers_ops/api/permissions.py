from rest_framework.permissions import BasePermission

from .exceptions import ScopeMissing, Unauthenticated


class HasScope(BasePermission):
    """Needs a valid key, and the scope the view names for the method.

    Views set ``required_scopes = {"GET": "leased:read", "POST": "leased:write"}``; a
    method the view does not name needs only a valid key. HEAD needs what GET needs.
    """

    def has_permission(self, request, view):
        api_key = request.auth
        if api_key is None:
            raise Unauthenticated()
        method = "GET" if request.method == "HEAD" else request.method
        scope = getattr(view, "required_scopes", {}).get(method)
        if scope and not api_key.grants(scope):
            raise ScopeMissing(f"This API key lacks the '{scope}' scope.")
        return True
