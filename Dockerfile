# One image per service: docker build --build-arg SERVICE=routing -t atende-routing .
# The image holds the event library and that one service, installed with the pinned versions.
# The simulator of customers and agents (a development tool, never in a service's image) is the
# target `simulator`: docker build --target simulator -t atende-simulator .
#
# Base image: pin by digest before a production build, e.g. every `FROM python:3.11-slim` as
# `FROM python:3.11-slim@sha256:<digest>` with the digest of `docker buildx imagetools inspect
# python:3.11-slim` on the day of the release (and let a bot such as Renovate move it). It is not
# pinned here because no current digest could be verified from this repository's build machine;
# an unverified digest would be worse than none.
FROM python:3.11-slim AS simulator-build
WORKDIR /src
COPY constraints.txt ./
RUN python -m venv /opt/atende \
    && /opt/atende/bin/pip install --no-cache-dir -c constraints.txt aiosmtpd fastapi httpx uvicorn

FROM python:3.11-slim AS simulator
ENV PATH=/opt/atende/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin atende
COPY --from=simulator-build /opt/atende /opt/atende
COPY simulator /app/simulator
WORKDIR /app
USER 10001
EXPOSE 8025 8026
ENTRYPOINT ["python", "-m", "simulator"]

# The service image (the default target: the last stage).
FROM python:3.11-slim AS build
ARG SERVICE
RUN test -n "$SERVICE" || (echo "pass --build-arg SERVICE=<intake|routing|sla|survey|analytics>" && false)
WORKDIR /src
COPY constraints.txt ./
COPY libs/events ./libs/events
COPY services/${SERVICE} ./services/${SERVICE}
RUN python -m venv /opt/atende \
    && /opt/atende/bin/pip install --no-cache-dir -c constraints.txt ./libs/events ./services/${SERVICE}

FROM python:3.11-slim
ARG SERVICE
ENV SERVICE=${SERVICE} \
    PATH=/opt/atende/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin atende
COPY --from=build /opt/atende /opt/atende
COPY services/${SERVICE}/alembic.ini /app/alembic.ini
COPY services/${SERVICE}/migrations /app/migrations
COPY deploy/docker/entrypoint.sh /usr/local/bin/atende
WORKDIR /app
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"]
ENTRYPOINT ["atende"]
CMD ["serve"]
