"""Settings for the Layers leased-accounts service.

Every value comes from the environment (django-environ) with a default that is safe for a
developer's machine. Production (DEBUG off) refuses to start without a real SECRET_KEY.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)

_INSECURE_PREFIX = "django-insecure-"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (50+ random characters)."
        )
    SECRET_KEY = _INSECURE_PREFIX + "development-only-key-never-use-in-production"
elif not DEBUG and (
    SECRET_KEY.startswith(_INSECURE_PREFIX) or len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured("SECRET_KEY is not a real secret: use 50+ random characters.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "layers_ops.partners",
    "layers_ops.api",
    "billing",
    "leasing",
]

MIDDLEWARE = [
    "layers_ops.api.middleware.RequestIdMiddleware",
    "layers_ops.api.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "layers_ops.urls"
WSGI_APPLICATION = "layers_ops.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: PostgreSQL in production and CI; an SQLite file in the project by default.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so read-then-write blocks
    # (rate-limit windows, idempotency claims) serialize instead of failing as "locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20}
    )
elif env.bool("DATABASE_POOL", default=False):
    # A psycopg pool per process (asgi.py turns it on: under ASGI every request runs in a
    # thread of its own, so connections kept per thread would leak). At most
    # DATABASE_POOL_SIZE connections per process; a request waits up to 30 s for one.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Each connection is checked as it leaves the pool: a database restart fails no request.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": env.int("DATABASE_POOL_SIZE", default=10),
        "timeout": 30,
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0 if DEBUG else 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis holds the rate-limit counters shared by every worker when it is configured;
# without it the counters live in the database, which is just as correct, only slower.
REDIS_URL = env.str("REDIS_URL", default="")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "America/Los_Angeles"  # ops work from San Francisco; storage is UTC
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Security. HTTPS redirect and HSTS belong to the TLS-terminating proxy in front of us.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
X_FRAME_OPTIONS = "DENY"

# Messages live in the session: a new API key's secret is shown through one, and must
# not travel in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

# Business settings.
LEASE_PRICE_CENTS = env.int("LEASE_PRICE_CENTS", default=15_000)
# Days a lease stays assigned, past due, while renewals retry its charge; after that the
# next renewal run that still cannot charge it disconnects it (reason ``unpaid``).
RENEWAL_GRACE_DAYS = env.int("RENEWAL_GRACE_DAYS", default=3)
if RENEWAL_GRACE_DAYS < 0:
    raise ImproperlyConfigured("RENEWAL_GRACE_DAYS cannot be negative.")
IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["layers_ops.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["layers_ops.api.permissions.HasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["layers_ops.api.ratelimit.EndpointClassThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["layers_ops.api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["layers_ops.api.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "layers_ops.api.negotiation.JSONOnlyNegotiation",
    "EXCEPTION_HANDLER": "layers_ops.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Layers leased accounts API",
    "DESCRIPTION": (
        "Request warmed TikTok accounts for a project, poll the request, list the "
        "accounts you lease and watch your wallet. Every error body is `{error: {code, "
        "message, requestId, details}}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "CAMELIZE_NAMES": True,  # path parameters as the API page writes them: {projectId}
    # Headers, plumbing answers (400, 405, 411, 413, 415) and links on every operation.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "layers_ops.api.schema.postprocess",
    ],
    "ENUM_NAME_OVERRIDES": {
        "CountryCodeEnum": "leasing.serializers.COUNTRY_CODES",
        "LeaseRequestStatusEnum": "leasing.models.RequestStatus",
        "LeaseStatusEnum": "leasing.models.LeaseStatus",
        "BillingStatusEnum": "leasing.models.BillingStatus",
        "DisconnectedReasonEnum": "leasing.models.DisconnectReason",
        "LedgerEntryKindEnum": "billing.models.TransactionKind",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.utils.autoreload": {"level": "WARNING"},
    },
}
