"""POST /batches stores the body and a worker reads it: the request parses nothing, memory is bounded by a block
(network blocks in the request, row blocks in the worker), and reading a table in blocks gives the same curves."""

from __future__ import annotations

import asyncio
import hashlib
import io

import lcad_testkit as kit
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from models.lightcurve import LightCurveError
from service import ingest
from service.api.main import create_app
from service.api.routes.batches import store_upload
from service.db import LightCurveRow
from service.ingest import BodyError, policy_for, probe, read_batch

POLICY = policy_for(["clear", "V"])


def _table(curves) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"object_id": lc.object_id, "mjd": lc.mjd, "mag": lc.mag, "mag_err": lc.mag_err,
                                    "band": [str(b) for b in lc.band]}) for lc in curves], ignore_index=True)


def _read(data: bytes, fmt: str) -> list:
    return list(read_batch(io.BytesIO(data), fmt, POLICY))


def _as_tuples(items) -> list:
    return [(c.object_id, c.mjd.tolist(), c.mag.tolist()) for c in items]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tables_read_in_small_blocks_give_the_same_curves(monkeypatch, curves, fmt):
    frame = _table(curves[:12])
    buffer = io.BytesIO()
    frame.to_parquet(buffer) if fmt == "parquet" else frame.to_csv(buffer, index=False)
    whole = _read(buffer.getvalue(), fmt)
    monkeypatch.setattr(ingest, "TABLE_BLOCK_ROWS", 7)  # far fewer rows than one curve: objects span blocks
    blocks = _read(buffer.getvalue(), fmt)
    assert len(whole) == 12 and _as_tuples(blocks) == _as_tuples(whole)


def test_an_object_whose_rows_come_back_later_is_rejected_not_split(monkeypatch, curves):
    a, b = _table(curves[:1]), _table(curves[1:2])
    frame = pd.concat([a.iloc[:20], b, a.iloc[20:]], ignore_index=True)  # a's rows, b's, then a's again
    monkeypatch.setattr(ingest, "TABLE_BLOCK_ROWS", 10)
    items = _read(frame.to_csv(index=False).encode(), "csv")
    assert [type(i).__name__ for i in items] == ["LightCurve", "LightCurve", "LightCurveError"]
    assert isinstance(items[2], LightCurveError) and (items[2].object_id, items[2].field) == (
        curves[0].object_id, "object_id")


@pytest.mark.parametrize(("body", "fmt", "words"), [
    (b"object_id,mjd,mag,mag_err\n", "csv", "no light curve"),
    (b"object_id,mjd,mag\na,1,2\n", "csv", "mag_err"),
    (b"PAR1garbage", "parquet", "cannot read the body as parquet"),
])
def test_probe_refuses_tables_that_can_never_give_a_curve(body, fmt, words):
    with pytest.raises(BodyError, match=words):
        probe(io.BytesIO(body), fmt)


def test_probe_reads_a_parquet_footer_only_and_refuses_one_without_rows(curves):
    empty = io.BytesIO()
    _table(curves[:1]).iloc[:0].to_parquet(empty)
    with pytest.raises(BodyError, match="no light curve"):
        probe(io.BytesIO(empty.getvalue()), "parquet")
    full = io.BytesIO()
    _table(curves[:2]).to_parquet(full)
    probe(io.BytesIO(full.getvalue()), "parquet")


def test_store_upload_writes_each_block_before_taking_the_next(tmp_path):
    """Memory is bounded by one network block: the file holds every earlier block when the next one is asked for."""
    path, block, sizes = tmp_path / "u" / "body.upload", b"x" * 2**20, []

    async def blocks():
        for _ in range(5):
            sizes.append(path.stat().st_size if path.exists() else 0)
            yield block

    digest = hashlib.sha256()
    assert asyncio.run(store_upload(blocks(), path, digest)) == 5 * len(block)
    assert sizes == [k * len(block) for k in range(5)] and path.stat().st_size == 5 * len(block)
    assert digest.hexdigest() == hashlib.sha256(block * 5).hexdigest()


class Idle:
    """A dispatcher that queues nothing: what the request alone does is all that happens."""

    def __init__(self):
        self.sent: list[int] = []

    def submit(self, chunk_ids):
        self.sent.extend(chunk_ids)

    def healthy(self):
        return True, "idle"

    def close(self):
        pass


def test_the_202_comes_before_any_curve_is_parsed(embedded_settings, curves):
    with TestClient(create_app(embedded_settings)) as client:
        client.app.state.lcad.dispatcher = idle = Idle()
        body = kit.jsonl(curves[:30]).encode()
        answer = client.post("/batches", content=body, headers={"Content-Type": "application/x-ndjson"})
        assert answer.status_code == 202, answer.text
        assert answer.json()["state"] == "queued" and answer.json()["counts"]["received"] == 0
        assert len(idle.sent) == 1  # the ingest chunk, committed then queued
        stored = list(embedded_settings.upload_path.iterdir())
        assert [p.read_bytes() for p in stored] == [body]
        with client.app.state.lcad.sessions() as session:
            assert session.scalar(select(func.count()).select_from(LightCurveRow)) == 0
        refused = client.post("/batches", content=b"object_id,mjd,mag\na,1,2\n", headers={"Content-Type": "text/csv"})
        assert refused.status_code == 400 and "mag_err" in refused.json()["detail"]
        assert list(embedded_settings.upload_path.iterdir()) == stored  # a refused body leaves no file behind
