"""Settings the benchmark server runs with: the product's own, plus measurement hooks.

Adds ``/bench/baseline`` (see ``tests.bench.urls``), counts SQL queries per request
(``tests.bench.middleware``) and serves static files without a collectstatic manifest.
Everything else, DEBUG and SECRET_KEY included, comes from the environment as in
production.
"""

import warnings

from layers_ops.settings import *  # noqa: F403
from layers_ops.settings import MIDDLEWARE, STORAGES

# WhiteNoise warns that STATIC_ROOT does not exist: nothing is collected for a benchmark.
warnings.filterwarnings("ignore", "No directory at", UserWarning)

ROOT_URLCONF = "tests.bench.urls"

MIDDLEWARE = ["tests.bench.middleware.QueryCountMiddleware", *MIDDLEWARE]

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
