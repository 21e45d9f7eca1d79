"""Bad input gets a 4xx whose reasons name the object and the field, and harms nothing already stored."""

from __future__ import annotations

import json

import lcad_testkit as kit
import pytest
from sqlalchemy import func, select

from service.db import LightCurveRow, Object, Score


def _curve(**overrides) -> dict:
    body = {"object_id": "star-1", "mjd": [53000.0 + i for i in range(8)], "mag": [15.0 + 0.1 * (i % 3) for i in
            range(8)], "mag_err": [0.05] * 8}
    body.update(overrides)
    return body


def _counts(client) -> tuple[int, int, int]:
    with client.app.state.lcad.sessions() as session:
        return tuple(session.scalar(select(func.count()).select_from(t)) for t in (Object, LightCurveRow, Score))


@pytest.fixture
def client(embedded_client, curves):
    """An embedded service that already holds some scores, so that harm would show."""
    response = embedded_client.post("/score", json={"lightcurves": [kit.curve_json(lc) for lc in curves[:3]]})
    assert response.status_code == 200
    return embedded_client


def _post_raw(client, text: str):
    return client.post("/score", content=text, headers={"Content-Type": "application/json"})


BAD_CURVES = [
    # (raw JSON of one curve, field named in the reason, words in the reason)
    ('{"object_id": "nan-1", "mjd": [1,2,3,4,5,6], "mag": [1,2,NaN,4,5,6], "mag_err": [1,1,1,1,1,1]}', "mag", "NaN"),
    ('{"object_id": "nan-2", "mjd": [1,2,3,4,5,6], "mag": [1,2,3,4,5,6], "mag_err": [1,1,"NaN",1,1,1]}', "mag_err",
     "NaN"),
    ('{"object_id": "inf-1", "mjd": [1,2,3,4,5,Infinity], "mag": [1,2,3,4,5,6], "mag_err": [1,1,1,1,1,1]}', "mjd",
     "infinite"),
    ('{"object_id": "inf-2", "mjd": [1,2,3,4,5,6], "mag": [1,2,3,4,5,"-Infinity"], "mag_err": [1,1,1,1,1,1]}', "mag",
     "infinite"),
    ('{"object_id": "neg-err", "mjd": [1,2,3,4,5,6], "mag": [1,2,3,4,5,6], "mag_err": [1,1,-0.1,1,1,1]}', "mag_err",
     "negative"),
    ('{"object_id": "one-point", "mjd": [53000], "mag": [15], "mag_err": [0.1]}', "mag", "fewer than"),
    ('{"object_id": "lengths", "mjd": [1,2,3,4,5,6], "mag": [1,2,3,4,5,6], "mag_err": [1,1,1]}', "mag_err",
     "has 3 values but mjd has 6"),
    ('{"object_id": "band-x", "mjd": [1,2,3,4,5,6], "mag": [1,2,3,4,5,6], "mag_err": [1,1,1,1,1,1], '
     '"band": ["q","q","q","q","q","q"]}', "band", "unknown band"),
    ('{"object_id": "flux-neg", "mjd": [1,2,3,4,5,6], "flux": [1,2,-3,4,5,6], "flux_err": [1,1,1,1,1,1]}', "flux",
     "negative"),
    ('{"object_id": "no-err", "mjd": [1,2,3,4,5,6], "mag": [1,2,3,4,5,6]}', "mag_err", "missing"),
    ('{"object_id": "bad-type", "mjd": [1,2,3,4,5,6], "mag": [1,"bright",3,4,5,6], "mag_err": [1,1,1,1,1,1]}',
     "mag.1", "number"),
    ('{"object_id": "bad-type-2", "mjd": "yesterday", "mag": [1,2,3,4,5,6], "mag_err": [1,1,1,1,1,1]}', "mjd",
     "list"),
]


@pytest.mark.parametrize(("raw", "field", "words"), BAD_CURVES, ids=[json.loads(c[0].replace("NaN", "0").replace(
    "-Infinity", "0").replace("Infinity", "0"))["object_id"] for c in BAD_CURVES])
def test_bad_curve_is_rejected_naming_object_and_field(client, raw, field, words):
    before = _counts(client)
    good = json.dumps(_curve(object_id="good-neighbour"))
    response = _post_raw(client, f'{{"lightcurves": [{good}, {raw}]}}')
    assert response.status_code == 422, response.text
    reasons = response.json()["rejected"]
    object_id = json.loads(raw.replace("NaN", "0").replace("-Infinity", "0").replace("Infinity", "0"))["object_id"]
    assert [(r["object_id"], r["field"]) for r in reasons] == [(object_id, field)]
    assert words in reasons[0]["reason"]
    assert _counts(client) == before  # all or nothing: not even the good neighbour was stored


def test_malformed_requests_get_4xx_not_500(client):
    before = _counts(client)
    cases = {
        "not json": _post_raw(client, "{lightcurves: oops"),
        "missing object_id": client.post("/score", json={"lightcurves": [{"mjd": [1], "mag": [1], "mag_err": [1]}]}),
        "empty list": client.post("/score", json={"lightcurves": []}),
        "unknown field": client.post("/score", json={"lightcurves": [_curve(colour="red")]}),
        "unknown model": client.post("/score", json={"lightcurves": [_curve()], "model": "no-such-model"}),
        "bad cursor": client.get("/anomalies", params={"cursor": "garbage"}),
        "bad format": client.get("/anomalies", params={"format": "xlsx"}),
        "empty batch": client.post("/batches", content=b"", headers={"Content-Type": "application/x-ndjson"}),
        "csv without mag_err": client.post("/batches", content=b"object_id,mjd,mag\na,1,2\n",
                                           headers={"Content-Type": "text/csv"}),
        "not parquet": client.post("/batches", content=b"PAR1garbage", headers={"Content-Type":
                                                                                 "application/vnd.apache.parquet"}),
        "unsupported type": client.post("/batches", content=b"<xml/>", headers={"Content-Type": "application/xml"}),
        "missing batch": client.get("/batches/00000000-0000-0000-0000-000000000000"),
        "missing object": client.get("/objects/nobody"),
    }
    for name, response in cases.items():
        assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
        assert response.json()["detail"], name
    assert cases["unknown model"].json()["detail"].startswith("unknown model 'no-such-model'")
    assert cases["missing object_id"].json()["rejected"][0]["field"] == "object_id"
    assert _counts(client) == before


def test_oversized_requests_answer_413_pointing_to_batches(client, embedded_settings):
    many = {"lightcurves": [_curve(object_id=f"s{i}") for i in range(embedded_settings.score_max_curves + 1)]}
    response = client.post("/score", json=many)
    assert response.status_code == 413 and "POST /batches" in response.json()["detail"]
    huge = b'{"lightcurves": [' + b" " * (embedded_settings.score_max_bytes + 1) + b"]}"
    response = client.post("/score", content=huge, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "POST /batches" in response.json()["detail"]


def test_unsorted_and_duplicate_times_are_cleaned_and_reported(client):
    mjd = [53005.0, 53001.0, 53003.0, 53002.0, 53004.0, 53003.0, 53006.0]  # unsorted, 53003 twice
    curve = _curve(object_id="messy", mjd=mjd, mag=[15.0, 15.1, 15.2, 15.1, 15.0, 15.3, 15.2], mag_err=[0.05] * 7)
    response = client.post("/score", json={"lightcurves": [curve]})
    assert response.status_code == 200, response.text
    assert response.json()["data"][0]["cleaning"] == {"sorted": True, "removed": {"duplicate_time": 1}}
    stored = client.get("/objects/messy").json()["lightcurves"][0]
    assert stored["mjd"] == sorted(set(mjd))


def test_batch_scores_good_curves_and_reports_the_rest(client, curves):
    lines = kit.jsonl(curves[10:14]) + "\n".join([
        '{"object_id": "bad-nan", "mjd": [1,2,3,4,5,6], "mag": [1,2,NaN,4,5,6], "mag_err": [1,1,1,1,1,1]}',
        '{"object_id": "bad-len", "mjd": [1,2,3], "mag": [1,2], "mag_err": [1,1,1]}',
        '{"object_id": "bad-type", "mjd": [1,2,3], "mag": {"a": 1}, "mag_err": [1,1,1]}',
        "this line is not json"]) + "\n"
    response = client.post("/batches", content=lines, headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 202, response.text
    body = kit.wait_batch(client, response.headers["Location"])
    assert body["counts"] | {} == {"received": 8, "accepted": 4, "rejected": 4, "scored": 4, "failed": 0,
                                   "pending": 0}
    reasons = {(r["object_id"], r["field"]) for r in body["rejections"]}
    assert reasons == {("bad-nan", "mag"), ("bad-len", "mag"), ("bad-type", "mag"), ("line 8", "body")}


def test_batch_where_everything_is_rejected_fails_with_the_reasons_and_stores_nothing(client):
    before = _counts(client)
    response = client.post("/batches", content='{"object_id": "x", "mjd": [1], "mag": [1], "mag_err": [-1]}\n',
                           headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 202  # the worker reads the body after the answer
    body = kit.wait_batch(client, response.headers["Location"])
    assert body["state"] == "failed" and body["error"].startswith("all 1 light curve(s) were rejected")
    assert body["rejections"] == [{"object_id": "x", "field": "mag_err", "reason": "ingest: 1 value(s) are zero "
                                                                                   "or negative"}]
    assert _counts(client) == before
