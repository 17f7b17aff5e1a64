"""gunicorn settings for ``make serve`` (and any production start): ``gunicorn -c`` this file.

gunicorn manages the processes; each worker is uvicorn on an event loop
(``layers_ops.serving.Worker``) serving the ASGI app. A request reaches Django only once
its headers and whole body have arrived, so slow or silent clients cost a socket, not a
thread: a few hundred of them do not delay anyone else. The server refuses, in the API's
JSON envelope, request lines and headers over the limits below (414, 431), chunked and
oversized bodies (411, 413) and requests that do not arrive in time (408); see
``layers_ops/serving.py``. ``--workers`` and ``--bind`` come from the command line.
"""

import os
import shutil
import tempfile
from pathlib import Path

wsgi_app = "layers_ops.asgi:application"

worker_class = "layers_ops.serving.Worker"
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))

# A worker whose event loop has not reported for this many seconds is restarted.
timeout = 30
# On a restart or deploy (SIGTERM), in-flight requests get this long to finish.
graceful_timeout = 30
# Idle kept-alive connections are closed after this long: longer than the idle timeout
# of the proxy in front (60 s on most load balancers), so the proxy, not the server,
# closes them and never sends a request on a connection we just closed.
keepalive = 65

# Header limits (gunicorn's defaults, stated), enforced by layers_ops.serving: a longer
# request line is 414, more or larger header fields 431, before Django sees them.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# With JSON logs (LOG_FORMAT, as settings default it) the app writes one line a request
# itself (layers_ops/ops/telemetry.py), with the request id: no second, plain access log.
_debug = os.environ.get("DEBUG", "").lower() in ("1", "true", "yes", "on")
_json_logs = os.environ.get("LOG_FORMAT", "plain" if _debug else "json") == "json"
accesslog = None if _json_logs else "-"
# Writes no ~/.gunicorn control socket (gunicorn >= 25.1).
control_socket_disable = True

# Prometheus multiprocess mode (layers_ops/ops/metrics.py): each worker writes its request
# metrics to files here, and whichever worker answers /metrics reads them all. The
# variable must be set before a worker imports prometheus_client, so it is set here, in
# the master; the folder is emptied at every server start (old workers' counts would
# otherwise be read forever), and a dead worker's gauges are dropped.
os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "layers-prometheus")
)


def on_starting(server):
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
