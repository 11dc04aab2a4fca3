#!/bin/sh
# Bring the database to the latest migration, then serve the app factory with gunicorn.
set -eu
healthbot db upgrade
exec gunicorn \
    --bind "0.0.0.0:${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-2}" \
    --threads "${GUNICORN_THREADS:-8}" \
    --timeout 60 \
    --access-logfile - \
    "bot.app:create_app()"
