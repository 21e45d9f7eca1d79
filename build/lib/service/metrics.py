"""Prometheus metrics of the service (``GET /metrics``); one registry per process."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("lcad_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("lcad_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CURVES_SCORED = Counter("lcad_curves_scored_total", "light curves scored in this process", ["path"])
CURVES_REJECTED = Counter("lcad_curves_rejected_total", "light curves rejected at ingestion", ["endpoint"])
CHUNKS_REQUEUED = Counter("lcad_chunks_requeued_total", "chunks queued again by the sweeper")
