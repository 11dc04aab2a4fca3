# healthbot web process: migrations, then `healthbot serve` (gunicorn, one app per worker).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HEALTHBOT_INSTANCE_DIR=/data \
    PORT=8000

WORKDIR /app

RUN groupadd --system --gid 10001 healthbot \
    && useradd --system --uid 10001 --gid healthbot --home-dir /app --shell /usr/sbin/nologin healthbot \
    && mkdir -p /data \
    && chown healthbot:healthbot /data

# Dependencies come from pyproject.toml; the package itself is installed with them.
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY safety ./safety
COPY migrations ./migrations
COPY docker/entrypoint.sh /usr/local/bin/healthbot-entrypoint
RUN pip install --no-cache-dir . \
    && chmod 0755 /usr/local/bin/healthbot-entrypoint

USER 10001:10001
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

ENTRYPOINT ["healthbot-entrypoint"]
