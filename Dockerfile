# facepoints HTTP service, CPU only.
#   docker build -t facepoints .
#   docker run --rm -p 8000:8000 facepoints        # then open http://localhost:8000/
# Written from the Docker and PyTorch documentation; Docker cannot run on the machines this
# project is developed on, so this file has not been built there (see docs/serving.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# OpenCV's headless wheel still links GLib.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
# Inference needs no PyTorch: the bundled models run as ONNX exports (src/facepoints/resources/*.onnx)
# through onnxruntime, and the face detector through OpenCV.
RUN pip install . && python -c "import facepoints; facepoints.FaceLandmarker()"

RUN useradd --create-home --uid 10001 facepoints
USER facepoints

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"

CMD ["facepoints", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
