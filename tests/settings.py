"""The service's own settings, with what a test run needs on top."""

import os

from layers_ops.embedded_db import ensure_database_url

os.environ.setdefault("SECRET_KEY", "tests-only-" + "k" * 60)
ensure_database_url()  # DATABASE_URL, or the embedded PostgreSQL in .data/pg

from layers_ops.settings import *  # noqa: E402, F403
from layers_ops.settings import STORAGES  # noqa: E402

# Admin pages render without a collectstatic manifest.
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STAFF_2FA_REQUIRED = False  # the sign-in tests turn it on where they need it
# A job worker runs each job in a thread of its own pool; connections closed after each
# job (as with CONN_MAX_AGE=0 in production) let the test database be dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
