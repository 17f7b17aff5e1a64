"""The ASGI app ``make serve`` runs (gunicorn with uvicorn workers, ``gunicorn.conf.py``).

Django runs each request's sync code in a thread of its own under ASGI, so connections
kept per thread (``CONN_MAX_AGE``) would leak: here the database connections come from a
pool per process instead (``DATABASE_POOL``, see settings).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "layers_ops.settings")
os.environ.setdefault("DATABASE_POOL", "true")

application = get_asgi_application()
