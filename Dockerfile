# Leg-weakness CDS Hooks service: slim Python base, non-root user, pinned dependencies from the
# lock file, health check on GET /healthz. Only what is COPYed below is in the build context
# (.dockerignore); tests/test_packaging.py builds the wheel from exactly these files.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CDS_DATA_DIR=/var/lib/cds-service

RUN groupadd --system cds && useradd --system --gid cds --home-dir /var/lib/cds-service --create-home cds

WORKDIR /src
# Dependencies first (their layer is cached while only the code changes), every one pinned and hashed.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY cds_service ./cds_service
COPY schemas ./schemas
RUN pip install --no-deps . && rm -rf /src

USER cds
WORKDIR /var/lib/cds-service
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2).status == 200 else 1)"

CMD ["cds-service", "serve", "--host", "0.0.0.0", "--port", "8080"]
