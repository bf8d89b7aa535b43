"""Prometheus metrics, named once here so that every module counts the same series."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOK_DELIVERIES = Counter(
    "leitstand_webhook_deliveries_total",
    "Webhook deliveries by platform and outcome",
    ["platform", "outcome"],
)
MESSAGES_STORED = Counter(
    "leitstand_messages_stored_total", "Messages stored from webhooks", ["platform"]
)
MESSAGES_PROCESSED = Counter("leitstand_messages_processed_total", "Messages processed")
PROCESSING_SECONDS = Histogram(
    "leitstand_processing_batch_seconds", "Time to process one batch of messages"
)
JOBS_FAILED = Counter("leitstand_jobs_failed_total", "Job batches that raised", ["job"])
