"""Settings for the Layers leased-accounts service.

Every value comes from the environment (django-environ) with a default that is safe for a
developer's machine. Production (DEBUG off) refuses to start without a real SECRET_KEY.
A ``.env`` file is read only as layers_ops/dotenv.py says (manage.py reads the
development file ``make run`` writes; anything else only with DJANGO_READ_DOT_ENV=true).
Every variable read here is in the table of docs/operations.md (tests/test_docs.py).
"""

import tempfile
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from layers_ops.dotenv import dot_env_read
from layers_ops.ops.errors import sentry_init
from layers_ops.ops.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

dot_env_read(manage=False)  # only with DJANGO_READ_DOT_ENV=true; manage.py read it already
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
    "layers_ops.staff.apps.LayersAdminConfig",  # Django's admin behind the second factor
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
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "procrastinate.contrib.django",  # before the apps whose tasks.py it discovers
    "layers_ops.jobs",
    "layers_ops.webhooks",
    "layers_ops.staff",
    "layers_ops.partners",
    "layers_ops.api",
    "billing",
    "leasing",
]

MIDDLEWARE = [
    "layers_ops.api.middleware.RequestIdMiddleware",
    "layers_ops.ops.telemetry.RequestTelemetryMiddleware",  # metrics and the request log
    "layers_ops.api.middleware.RequestGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "layers_ops.staff.middleware.StaffSessionLifetimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a refused sign-in into the lockout page
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

# Database: PostgreSQL everywhere, named by DATABASE_URL. manage.py and the test settings
# point it at the embedded server of layers_ops/embedded_db.py when it is unset; anything
# else (gunicorn started by hand, a production host) must be told: it never starts one.
if not env.str("DATABASE_URL", default=""):
    raise ImproperlyConfigured(
        "DATABASE_URL is not set: use manage.py (it starts the embedded PostgreSQL) "
        "or set it, e.g. postgres://user:pass@host:5432/layers"
    )
DATABASES = {"default": env.db_url("DATABASE_URL")}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database (postgres://).")
if env.bool("DATABASE_POOL", default=False):
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

# Staff sign-in (the admin). A password, then a second factor (TOTP app or a backup
# code) when STAFF_2FA_REQUIRED, on unless DEBUG. Guessing locks the (username, address)
# pair; an address failing across many usernames is locked too. Counters live in the
# database, so every web process sees them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # refuses a locked-out pair before the password
    "django.contrib.auth.backends.ModelBackend",
]
STAFF_2FA_REQUIRED = env.bool("STAFF_2FA_REQUIRED", default=not DEBUG)
STAFF_SESSION_IDLE_MINUTES = env.int("STAFF_SESSION_IDLE_MINUTES", default=30)
STAFF_SESSION_MAX_HOURS = env.int("STAFF_SESSION_MAX_HOURS", default=12)
STAFF_LOCKOUT_FAILURES = env.int("STAFF_LOCKOUT_FAILURES", default=5)
STAFF_LOCKOUT_MINUTES = env.int("STAFF_LOCKOUT_MINUTES", default=15)
STAFF_LOCKOUT_ADDRESS_FAILURES = env.int("STAFF_LOCKOUT_ADDRESS_FAILURES", default=50)
if min(STAFF_SESSION_IDLE_MINUTES, STAFF_SESSION_MAX_HOURS, STAFF_LOCKOUT_FAILURES) < 1:
    raise ImproperlyConfigured("Staff session and lockout limits must be at least 1.")
# Sessions end when idle or too old (layers_ops.staff.middleware); the cookie never
# outlives the absolute limit.
SESSION_COOKIE_AGE = STAFF_SESSION_MAX_HOURS * 3600
AXES_FAILURE_LIMIT = STAFF_LOCKOUT_FAILURES
AXES_COOLOFF_TIME = timedelta(minutes=STAFF_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "layers_ops.staff.lockout.StaffLockoutHandler"
AXES_LOCKOUT_CALLABLE = "layers_ops.staff.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
# A refused attempt during a lockout neither counts nor restarts the cool-off: the lock
# lifts STAFF_LOCKOUT_MINUTES after the last failure it counted.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_ENABLE_ADMIN = False  # the staff app shows the lockouts, to superusers only
# Behind a proxy, the number of proxies that append to X-Forwarded-For (0: REMOTE_ADDR).
AXES_IPWARE_PROXY_COUNT = env.int("STAFF_PROXY_COUNT", default=0) or None
OTP_TOTP_ISSUER = "Layers ops"
# Where staff reach the admin, for the links create_staff prints.
STAFF_BASE_URL = env.str("STAFF_BASE_URL", default="http://127.0.0.1:8000")
# The one-time set-up link of a new staff user works this long (or until used).
PASSWORD_RESET_TIMEOUT = env.int("STAFF_LINK_HOURS", default=72) * 3600

LANGUAGE_CODE = "en-us"
FORMAT_MODULE_PATH = ["layers_ops.formats"]  # one date format: 2026-11-30 09:15
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
# Health probes come from inside the cluster, over plain HTTP: never redirected.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
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
# The most one top-up, adjustment or charge may move, in US cents ($1,000,000); checked
# by billing.services for every path (console, command line, code).
MONEY_MOVEMENT_MAX_CENTS = env.int("MONEY_MOVEMENT_MAX_CENTS", default=100_000_000)
if not 0 < MONEY_MOVEMENT_MAX_CENTS < 2**62:
    raise ImproperlyConfigured("MONEY_MOVEMENT_MAX_CENTS must be a positive number of cents.")
# The console asks for a confirmation, with the amount in words, above this ($10,000).
MONEY_CONFIRM_ABOVE_CENTS = env.int("MONEY_CONFIRM_ABOVE_CENTS", default=1_000_000)
# Test mode (lp_test_ keys): a twin organization's sandbox wallet opens with this much
# ($3,000); its requests fulfil themselves this many seconds after they are queued.
SANDBOX_WALLET_CENTS = env.int("SANDBOX_WALLET_CENTS", default=300_000)
if not 0 <= SANDBOX_WALLET_CENTS <= MONEY_MOVEMENT_MAX_CENTS:
    raise ImproperlyConfigured("SANDBOX_WALLET_CENTS must be 0 to MONEY_MOVEMENT_MAX_CENTS.")
SANDBOX_FULFIL_SECONDS = env.int("SANDBOX_FULFIL_SECONDS", default=10)
if SANDBOX_FULFIL_SECONDS < 0:
    raise ImproperlyConfigured("SANDBOX_FULFIL_SECONDS cannot be negative.")

# CSV intake through the admin. Uploads over INTAKE_MAX_UPLOAD_MB are refused before they
# are read (the upload handler stops at the limit); a preview that can be confirmed keeps
# its file in INTAKE_UPLOAD_DIR (shared by every web worker of a deployment) until it is
# confirmed or INTAKE_UPLOAD_TTL_MINUTES pass (purge_intake_uploads deletes it then).
INTAKE_MAX_UPLOAD_MB = env.int("INTAKE_MAX_UPLOAD_MB", default=20)
if INTAKE_MAX_UPLOAD_MB < 1:
    raise ImproperlyConfigured("INTAKE_MAX_UPLOAD_MB must be at least 1.")
INTAKE_UPLOAD_DIR = env.str(
    "INTAKE_UPLOAD_DIR", default=str(Path(tempfile.gettempdir()) / "layers-intake")
)
INTAKE_UPLOAD_TTL_MINUTES = env.int("INTAKE_UPLOAD_TTL_MINUTES", default=60)
FILE_UPLOAD_HANDLERS = [
    "leasing.intake_uploads.IntakeUploadLimit",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

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
        "message, requestId, details}}`. Times are UTC (RFC 3339, `2026-11-01T03:00:00Z`); "
        "billing months are calendar months in America/Los_Angeles, as on the statements "
        "Layers finance keeps: a month starts at midnight Los Angeles time on the 1st, and "
        "a date given for a time (`since=2026-10-01`) means midnight Los Angeles time."
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
        "BillingTimezoneEnum": "billing.serializers.BILLING_TIMEZONES",
    },
}

# Background jobs (procrastinate, in the same PostgreSQL). Workers are
# ``manage.py procrastinate worker`` processes; see layers_ops/jobs.
PROCRASTINATE_ON_APP_READY = "layers_ops.jobs.engine.on_app_ready"
# Finished jobs are kept this long for the admin's record, then pruned hourly.
JOBS_RETENTION_DAYS = env.int("JOBS_RETENTION_DAYS", default=14)
if JOBS_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("JOBS_RETENTION_DAYS must be at least 1.")
# The admin home warns ops and finance when renewals (every 15 minutes) last ran longer
# ago than this.
RENEWALS_LATE_MINUTES = env.int("RENEWALS_LATE_MINUTES", default=30)

# Partner webhooks (layers_ops/webhooks). A failed attempt is retried after each of
# these delays in turn (seconds); when they run out the delivery is failed.
_retry_schedule = env.list(
    "WEBHOOK_RETRY_SCHEDULE", default=["0", "30", "60", "300", "900", "3600", "21600", "86400"]
)
if not _retry_schedule or not all(
    s.strip().isascii() and s.strip().isdigit() for s in _retry_schedule
):
    raise ImproperlyConfigured(
        "WEBHOOK_RETRY_SCHEDULE must be whole seconds separated by commas, e.g. 0,30,60,300."
    )
WEBHOOK_RETRY_SCHEDULE = [int(seconds) for seconds in _retry_schedule]
# After this many failures in a row an endpoint is auto-paused until it is resumed.
WEBHOOK_AUTO_PAUSE_FAILURES = 20
# One attempt: this long to connect, this long in all (the answer's body included).
WEBHOOK_CONNECT_TIMEOUT_SECONDS = 5
WEBHOOK_TIMEOUT_SECONDS = 15
# Deliveries go only to https URLs on public addresses; true (the demo and tests only)
# also allows http and loopback or private addresses.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
# wallet.low_balance fires when a wallet's runway falls under this many days.
WALLET_LOW_RUNWAY_DAYS = env.int("WALLET_LOW_RUNWAY_DAYS", default=7)

# Operations (README, Operations). /metrics answers only with this bearer token; unset,
# it is 404. /healthz and /readyz are always on.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# One JSON object a line for the log pipeline, or plain lines for a person (under DEBUG).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or plain.")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))
# Unhandled errors go to Sentry when a DSN is given; nothing is sent without one.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    sentry_init(dsn=SENTRY_DSN, environment=env.str("SENTRY_ENVIRONMENT", default=""))
