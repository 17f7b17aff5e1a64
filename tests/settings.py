"""The service's own settings, with what a test run needs on top."""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-" + "k" * 60)

from layers_ops.settings import *  # noqa: F403
from layers_ops.settings import STORAGES

# Admin pages render without a collectstatic manifest.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STAFF_2FA_REQUIRED = False  # the sign-in tests turn it on where they need it
