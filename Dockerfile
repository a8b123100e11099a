# lkbridge: the gRPC bridge between the cloud and LiveKit rooms.
#   docker build -t lkbridge .
#   docker run -p 9090:9090 lkbridge --host 0.0.0.0
# Stage 1 builds a virtualenv from the locked constraints; stage 2 copies only that venv onto a
# slim base: no compiler, no pip cache, no ffmpeg (PyAV's wheel carries the decoders it uses).

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/lkbridge
COPY pyproject.toml constraints.txt README.md ./
COPY lkbridge ./lkbridge
RUN /opt/lkbridge/bin/pip install -c constraints.txt .

FROM python:3.11-slim-bookworm
# espeak-ng is not needed to serve; libportaudio is only for the CLI's --mic/--speaker, left out
RUN useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin lkbridge \
    && mkdir -p /run/lkbridge && chown lkbridge /run/lkbridge
COPY --from=build /opt/lkbridge /opt/lkbridge
ENV PATH=/opt/lkbridge/bin:$PATH PYTHONUNBUFFERED=1 PORT=9090 LKBRIDGE_LOG_FORMAT=json \
    LKBRIDGE_HEALTH_PORT=9091 LKBRIDGE_HEALTH_TARGET=127.0.0.1:9091
USER 10001
EXPOSE 9090
# The standard grpc.health.v1 service, asked through the package itself (not pgrep): exit 0
# only while the bridge answers SERVING. Asked on the health port (LKBRIDGE_HEALTH_PORT, on
# 127.0.0.1 only), which answers even while clients hold the main port at its connection or call
# bounds (docs/operations.md, "Health port"); in sidecar mode too.
HEALTHCHECK --interval=10s --timeout=4s --start-period=10s --retries=3 \
    CMD lkbridge health --standard --timeout 3 --bridge "$LKBRIDGE_HEALTH_TARGET" || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["lkbridge", "serve"]
CMD ["--host", "0.0.0.0"]
