# The sdserve worker for GPU nodes: one replica of a Knative Service.
#   docker build -t REGISTRY/sdserve:TAG . && docker push REGISTRY/sdserve:TAG
# The CUDA build of torch must match the base image's CUDA release.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/sdserve/bin:$PATH
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/sdserve

# torch first, from the PyTorch index, so that `pip install .` finds the pin met
# by the CUDA build instead of fetching the default one.
RUN pip install torch==2.13.0 --index-url ${TORCH_INDEX}

COPY pyproject.toml README.md /tmp/sdserve/
COPY src /tmp/sdserve/src
RUN pip install /tmp/sdserve && rm -rf /tmp/sdserve

# /data is the only place the worker writes; /models holds baked-in weights, or
# the read-only volume mounted over it.
RUN useradd --system --uid 10001 --user-group --home-dir /data sdserve \
 && mkdir -p /data /models \
 && chown sdserve:sdserve /data
USER 10001
WORKDIR /data
# No network at start: the model comes from /models (or the image's hub cache).
ENV SDSERVE_DATA_DIR=/data \
    HF_HOME=/data/huggingface \
    HF_HUB_OFFLINE=1
EXPOSE 7860
ENTRYPOINT ["sdserve", "worker"]
