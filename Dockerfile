# One image for both roles: the api (the default command) and the thumbnailer (`thumbnailer`).
#   docker build -t thumbnails .
#   docker run -p 8000:8000 thumbnails                 the api, embedded backends under /app/data
#   docker run thumbnails thumbnailer                  a thumbnailer (point both at S3/SQS: README)
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PORT=8000

WORKDIR /app

# Dependencies first, read from pyproject.toml alone: a change to the sources reuses this layer.
# setuptools too, so that installing the sources below needs no network.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        >/tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt "setuptools>=68" \
    && rm /tmp/requirements.txt

# A fixed numeric user, so that Kubernetes' runAsNonRoot can check it; /app/data is where the
# embedded backends live when no STORAGE_URL / QUEUE_URL is set.
RUN groupadd --gid 10001 thumbnails \
    && useradd --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin thumbnails \
    && mkdir -p /app/data && chown 10001:10001 /app/data

# The sources (.dockerignore keeps out .venv, data, keys, caches, .git), installed without
# touching the dependencies above.
COPY . /src
RUN pip install --no-deps --no-build-isolation /src && rm -rf /src

USER 10001:10001
EXPOSE 8000
# The api's liveness on the port it listens on ($PORT). The thumbnailer has no HTTP server of its
# own: docker-compose.yaml and the Helm chart give it another check (its metrics port).
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=2)"
# SIGTERM: gunicorn stops gracefully; a thumbnailer finishes the jobs in hand, then exits.
STOPSIGNAL SIGTERM
CMD ["thumbnails-api"]
