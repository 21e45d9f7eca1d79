"""A batch POSTed over HTTP is scored by a real worker, stored, and comes back ranked from GET /anomalies.

Once with the deployed mode (PostgreSQL, Redis, a Celery worker process) and once with the embedded default
(SQLite, scoring in-process). The ranking is checked against the same model file scoring the same curves directly.
"""

from __future__ import annotations

import io

import lcad_testkit as kit
import numpy as np
import pandas as pd

from models.scorers import load_scorer


def _check_ranking(client, batch_id: str, curves, model_file, n_expected: int) -> None:
    expected = {o.object_id: o.score for o in load_scorer(model_file).score(curves).objects}
    page = client.get("/anomalies", params={"batch": batch_id, "limit": 1000}).json()
    ranked = [(d["object_id"], d["anomaly_score"]) for d in page["data"]]
    assert len(ranked) == n_expected
    scores = [s for _, s in ranked]
    assert scores == sorted(scores, reverse=True)
    # Same model, same curves: the service stores exactly what the scorer computes.
    assert all(np.isclose(expected[oid], s) for oid, s in ranked)
    assert ranked[0][0] == max(expected, key=expected.get)
    # Cursor pagination walks the same ranking.
    first = client.get("/anomalies", params={"batch": batch_id, "limit": 7}).json()
    second = client.get("/anomalies", params={"batch": batch_id, "limit": 7, "cursor": first["next_cursor"]}).json()
    assert [d["object_id"] for d in first["data"] + second["data"]] == [oid for oid, _ in ranked[:14]]


def test_batch_through_celery_worker_is_ranked(celery_client, start_worker, curves, model_file):
    start_worker()
    batch_curves = curves[:40]
    response = celery_client.post("/batches", content=kit.jsonl(batch_curves),
                                  headers={"Content-Type": "application/x-ndjson", "Idempotency-Key": "e2e-celery"})
    assert response.status_code == 202, response.text
    location = response.headers["Location"]
    assert location == f"/batches/{response.json()['id']}"
    body = kit.wait_batch(celery_client, location, timeout_s=60)
    assert body["state"] == "done", body
    assert body["counts"] == {"received": 40, "accepted": 40, "rejected": 0, "scored": 40, "failed": 0, "pending": 0}
    _check_ranking(celery_client, body["id"], batch_curves, model_file, 40)
    # Results of the batch in three formats agree.
    as_json = celery_client.get(f"{location}/results", params={"limit": 1000}).json()
    as_csv = pd.read_csv(io.StringIO(celery_client.get(f"{location}/results", params={"format": "csv"}).text),
                         dtype={"object_id": str})
    as_parquet = pd.read_parquet(io.BytesIO(celery_client.get(f"{location}/results",
                                                              params={"format": "parquet"}).content))
    assert as_json["count"] == len(as_csv) == len(as_parquet) == 40
    assert set(as_csv["object_id"]) == {lc.object_id for lc in batch_curves}


def test_batch_in_embedded_mode_is_ranked(embedded_client, curves, model_file):
    batch_curves = curves[40:75]
    frame = pd.DataFrame([{"object_id": lc.object_id, "mjd": t, "mag": m, "mag_err": e, "band": b,
                           "period": lc.period}
                          for lc in batch_curves for t, m, e, b in zip(lc.mjd, lc.mag, lc.mag_err, lc.band,
                                                                           strict=True)])
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    response = embedded_client.post("/batches", content=buffer.getvalue(),
                                    headers={"Content-Type": "application/vnd.apache.parquet"})
    assert response.status_code == 202, response.text
    body = kit.wait_batch(embedded_client, response.headers["Location"], timeout_s=60)
    assert body["state"] == "done" and body["counts"]["scored"] == 35, body
    _check_ranking(embedded_client, body["id"], batch_curves, model_file, 35)
