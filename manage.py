#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "layers_ops.settings")
    from layers_ops.dotenv import dot_env_read

    dot_env_read(manage=True)  # the checkout's development .env (layers_ops/dotenv.py)
    from layers_ops.embedded_db import EmbeddedDatabaseError, ensure_database_url

    try:
        ensure_database_url()  # DATABASE_URL, or the embedded PostgreSQL in .data/pg
    except EmbeddedDatabaseError as exc:
        sys.exit(f"manage.py: {exc}")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
