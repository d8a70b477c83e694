# syntax=docker/dockerfile:1
# marginwatch in a container: a non-root user, config and state as volumes, a read-only root.
#
#   docker build -t marginwatch .
#   docker run -d --name marginwatch --read-only --tmpfs /tmp --stop-timeout 15 \
#     -v /etc/marginwatch:/config:ro -v marginwatch-state:/state \
#     --env-file /etc/marginwatch/marginwatch.env \
#     -e MARGINWATCH_HTTP__LISTEN=0.0.0.0:9108 -p 127.0.0.1:9108:9108 marginwatch
#
# (README.md, "In Docker", has the whole recipe.) /config holds marginwatch.toml and
# credentials/, the files its `*_credential = "NAME"` secrets name (no systemd here:
# CREDENTIALS_DIRECTORY points there), all owned by uid 10001 with mode 0600; `*_env` secrets
# come from --env-file. /state holds the durable alert outbox; /tmp must be a tmpfs (the root is
# read-only). Inside a container the HTTP endpoint must listen on 0.0.0.0 to be published;
# publish it on the host's loopback only (/status shows positions).
# The health check reads http://127.0.0.1:9108/healthz; set HEALTHCHECK_URL if the port differs.

# ---- build: a virtual environment with marginwatch and its dependencies ------------------------
# Every dependency ships wheels, so no compiler is needed here either (python:3.11-slim has none).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
RUN python -m venv /opt/marginwatch \
    && /opt/marginwatch/bin/pip install . \
    && /opt/marginwatch/bin/marginwatch --version

# ---- run: the venv on a clean base; no compilers, no pip cache, no root -------------------------
FROM python:3.11-slim
ENV PATH=/opt/marginwatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MARGINWATCH_STATE__DIR=/state \
    CREDENTIALS_DIRECTORY=/config/credentials \
    HOME=/state
RUN groupadd --system --gid 10001 marginwatch \
    && useradd --system --uid 10001 --gid marginwatch --no-create-home \
        --home-dir /state --shell /usr/sbin/nologin marginwatch \
    && mkdir -p /config /state \
    && chown marginwatch:marginwatch /state \
    && chmod 0700 /state
COPY --from=build /opt/marginwatch /opt/marginwatch
USER 10001:10001
WORKDIR /state
VOLUME ["/config", "/state"]
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = os.environ.get('HEALTHCHECK_URL', 'http://127.0.0.1:9108/healthz'); sys.exit(0 if urllib.request.urlopen(url, timeout=5).status == 200 else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["marginwatch"]
CMD ["run", "--config", "/config/marginwatch.toml"]
