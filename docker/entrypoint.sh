#!/bin/sh
# Bring the database to the latest migration, then serve with `healthbot serve` (gunicorn): the
# master checks the set-up and each worker builds its own app after the fork; JSON logs and
# Prometheus metrics (multiprocess mode) come with it.
set -eu
healthbot db upgrade
exec healthbot serve \
    --host 0.0.0.0 \
    --port "${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-2}" \
    --threads "${GUNICORN_THREADS:-8}"
