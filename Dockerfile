# lcad service image: the API (`lcad serve`), the workers (`lcad worker`) and the migrations (`lcad db upgrade`).
# CPU wheels of torch by default; for GPU workers build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128
FROM python:3.11-slim

ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LCAD_DATA_DIR=/var/lib/lcad MPLBACKEND=Agg

WORKDIR /app
# Dependencies first (cached layer); torch from the chosen index so pip never pulls an unwanted CUDA build.
COPY pyproject.toml README.md ./
RUN pip install --index-url "$TORCH_INDEX" "torch==2.13.0" \
 && python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
    > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt
COPY models ./models
COPY service ./service
COPY workers ./workers
COPY migrations ./migrations
RUN pip install --no-deps . && useradd --create-home --uid 1000 lcad && mkdir -p /var/lib/lcad \
 && chown lcad /var/lib/lcad
USER lcad

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["lcad", "serve", "--host", "0.0.0.0", "--port", "8000"]
