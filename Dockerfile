# Sentinel in a container: follows /data headless, keeps its history in /state, serves Prometheus metrics and
# /health on 9464. Build:   docker build -t sentinel-tui .
# With frame batches (TensorFlow: several hundred MB more):   docker build --build-arg EXTRAS=frames -t sentinel-tui:frames .
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sentinel_tui ./sentinel_tui
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:${PYTHON_VERSION}-slim
# Comma-separated extras: "frames" (MobileNetV2 embeddings), "web" (sentinel serve), or "frames,web".
ARG EXTRAS=""
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SENTINEL_BASELINES=/baselines \
    SENTINEL_BASELINE=default
COPY --from=build /wheels /wheels
RUN pip install "$(ls /wheels/*.whl)${EXTRAS:+[$EXTRAS]}" && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --home-dir /state --no-create-home sentinel \
    && mkdir -p /data /state /baselines && chown sentinel:sentinel /state
USER sentinel
WORKDIR /state
# /data: the batches (read-only is fine: Sentinel never writes there when --state-dir is elsewhere).
# /state: the SQLite history, actions.log and alert files. /baselines: baselines made with `baseline create`.
VOLUME ["/data", "/state"]
EXPOSE 9464
# Liveness, not data health: /health answers 503 only when the monitor's loop has stalled.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/health', timeout=4)"]
ENTRYPOINT ["sentinel"]
# 0.0.0.0 inside the container's own network namespace; publish it with -p 127.0.0.1:9464:9464.
CMD ["watch", "/data", "--headless", "--state-dir", "/state", "--metrics-port", "9464", "--metrics-host", "0.0.0.0"]
