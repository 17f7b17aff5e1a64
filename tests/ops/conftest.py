import socket
from contextlib import contextmanager

import pytest
from django.db import connection


def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def database_unreachable():
    """The service's database connection is lost and every new one is refused (the
    connection now points at a closed port); restored afterwards."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(closed_port()))
    try:
        yield
    finally:
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
        connection.close()


@pytest.fixture
def database_gone():
    with database_unreachable():
        yield
