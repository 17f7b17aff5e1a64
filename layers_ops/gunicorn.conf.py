"""gunicorn settings for ``make serve`` (and any production start): ``gunicorn -c`` this file.

Threaded workers (``gthread``): a connection waits in the worker's poller until its
request has arrived, and a thread that finds no data within a few seconds hands the
connection back, so a client that never finishes its headers, or sends less body than
its Content-Length, holds at most one thread for a moment, never the worker. Sync
workers would each be held by one such client until ``timeout``. The proxy in front is
still the real defence: it should buffer whole requests and answers (README,
"Deployment"). ``--workers`` and ``--bind`` come from the command line.
"""

import os

wsgi_app = "layers_ops.wsgi:application"

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
# Threads per worker. Each may hold a database connection (CONN_MAX_AGE), so workers x
# threads is the most connections one host opens to PostgreSQL.
threads = int(os.environ.get("GUNICORN_THREADS", "8"))

# A request still running after this many seconds has its worker restarted; our slowest
# request takes well under a second.
timeout = 30
# On a restart or deploy (SIGTERM), in-flight requests get this long to finish.
graceful_timeout = 30
# Idle kept-alive connections wait in the poller (no thread) this long: longer than the
# idle timeout of the proxy in front (60 s on most load balancers), so the proxy, not
# gunicorn, closes them and never sends a request on a connection we just closed.
keepalive = 65

# Header limits (gunicorn's defaults, stated): longer request lines or more or larger
# headers are refused with 400 before Django sees them.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

accesslog = "-"
# Writes no ~/.gunicorn control socket (gunicorn >= 25.1).
control_socket_disable = True
