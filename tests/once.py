"""The one-time token an admin page puts in a form (``layers_ops.staff.once``), for tests
that post a form without drawing its page first."""

import re

from django.contrib.auth import SESSION_KEY, get_user_model

from layers_ops.staff.once import ONCE_FIELD, once_mint


def once(client) -> dict:
    """``{"_once": token}`` as a page drawn for the client's signed-in user carries."""
    user = get_user_model()(pk=int(client.session[SESSION_KEY]))
    return {ONCE_FIELD: once_mint(user=user)}


def once_on(response) -> dict:
    """``{"_once": token}`` as the page ``response`` drew it (the first form that has one)."""
    found = re.search(r'name="_once" value="([^"]+)"', response.content.decode())
    assert found, "the page has no one-time token"
    return {ONCE_FIELD: found.group(1)}
