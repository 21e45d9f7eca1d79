"""The bad-input corpus of issue 12 (section 3): each input the audit found crashing or answered with a wrong 2xx.

Every case runs against SQLite and PostgreSQL, which must answer alike.
"""

from __future__ import annotations

import io
import json

import lcad_testkit as kit
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from models.readers import read_dataset
from models.scorers import get_scorer
from models.scorers.base import ObjectScore
from service import crud
from service.api.main import create_app
from service.db import Score
from service.ingest import accept, policy_for
from service.schemas import LightCurveCreate

CSV_HEAD = "object_id,mjd,mag,mag_err\n"


def _curve(object_id="star-1", **overrides) -> dict:
    body = {"object_id": object_id, "mjd": [53000.0 + 3 * i for i in range(8)],
            "mag": [15.0 + 0.1 * (i % 3) for i in range(8)], "mag_err": [0.05] * 8}
    return body | overrides


def _csv_rows(object_id: str) -> str:
    return "".join(f"{object_id},{53000 + 3 * i},{15 + 0.1 * (i % 3)},0.05\n" for i in range(8))


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request, embedded_settings):
    settings = embedded_settings
    if request.param == "postgresql":
        settings = settings.model_copy(update={"database_url": request.getfixturevalue("pg_url")})
    with TestClient(create_app(settings)) as client:
        yield client


def _score_raw(client, text: str | bytes):
    return client.post("/score", content=text, headers={"Content-Type": "application/json"})


def _batch(client, body: str | bytes, content_type: str):
    return client.post("/batches", content=body, headers={"Content-Type": content_type})


def _settled(client, answer) -> dict:
    """The batch once its upload is read and scored (workers read uploads after the 202)."""
    return kit.wait_batch(client, answer.headers["Location"])


def _fields(response) -> list[tuple[str, str]]:
    return [(r["object_id"], r["field"]) for r in response.json()["rejected"]]


def test_lone_surrogate_and_nul_in_object_id_are_rejected(client):
    for raw_id in ('"bad\\ud800id"', '"bad\\u0000id"'):
        curve = json.dumps(_curve()).replace('"star-1"', raw_id)
        answer = _score_raw(client, f'{{"lightcurves": [{curve}]}}')
        assert answer.status_code == 422, answer.text
        assert [f for _, f in _fields(answer)] == ["object_id"]


def test_deeply_nested_json_is_a_4xx(client):
    deep = "[" * 100_000 + "]" * 100_000
    assert _score_raw(client, deep).status_code in (400, 422)
    lines = json.dumps(_curve("ok-1")) + "\n" + deep + "\n"
    answer = _batch(client, lines, "application/x-ndjson")
    assert answer.status_code == 202, answer.text
    assert [(r["object_id"], r["field"]) for r in _settled(client, answer)["rejections"]] == [("line 2", "body")]


def test_csv_with_only_a_header_is_a_400(client, tmp_path):
    answer = _batch(client, CSV_HEAD, "text/csv")
    assert answer.status_code == 400 and "no light curve" in answer.json()["detail"]
    (tmp_path / "empty.csv").write_text(CSV_HEAD)
    assert read_dataset(tmp_path / "empty.csv").lightcurves == []


def test_csv_id_over_256_characters_is_rejected_not_a_500(client):
    body = CSV_HEAD + _csv_rows("x" * 300) + _csv_rows("fine")
    answer = _batch(client, body, "text/csv")
    assert answer.status_code == 202, answer.text
    assert [r["field"] for r in _settled(client, answer)["rejections"]] == ["object_id"]


def test_nul_byte_in_a_csv_id_is_rejected(client):
    answer = _batch(client, CSV_HEAD + _csv_rows("a\x00b") + _csv_rows("fine"), "text/csv")
    assert answer.status_code == 202, answer.text
    assert [r["field"] for r in _settled(client, answer)["rejections"]] == ["object_id"]


def test_booleans_are_not_magnitudes(client):
    answer = client.post("/score", json={"lightcurves": [_curve(mag=[True] * 8)]})
    assert answer.status_code == 422 and _fields(answer)[0][1].startswith("mag")


def test_booleans_in_json_lines_are_rejected_and_true_in_a_name_is_not(client):
    """Lines without the bytes true/false skip the boolean check; the others must still get it."""
    lines = [_curve("bool-star", mag=[True] * 8), _curve("true-star"), _curve("plain-star", mag_err=[False] * 8)]
    body = "".join(json.dumps(line) + "\n" for line in lines)
    settled = _settled(client, _batch(client, body, "application/x-ndjson"))
    assert [(r["object_id"], r["field"]) for r in settled["rejections"]] == [("bool-star", "mag"),
                                                                           ("plain-star", "mag_err")]
    assert settled["counts"]["accepted"] == 1


def test_impossible_magnitudes_are_rejected_naming_the_field(embedded_settings, curves):
    """Magnitudes of 1e300 once reached LC-VaDE and came back null; the boundary now says why (tiny LC-VaDE)."""
    path = embedded_settings.models_dir / "tiny-lcvade.pt"
    if not path.exists():
        labels = [lc.label for lc in curves]
        get_scorer("lcvade", preset="tiny", seed=0, device="cpu").fit(curves, labels, max_steps=2).save(path)
    settings = embedded_settings.model_copy(update={"model_path": path})
    with TestClient(create_app(settings)) as client:
        answer = client.post("/score", json={"lightcurves": [_curve(mag=[1e300] * 8)]})
    assert answer.status_code == 422, answer.text
    assert _fields(answer) == [("star-1", "mag")]


def test_non_utf8_ids_are_rejected_not_mangled(client):
    line = json.dumps(_curve("caf\u00e9"), ensure_ascii=False).encode().replace("caf\u00e9".encode(), b"caf\xe9")
    answer = _batch(client, line + b"\n" + json.dumps(_curve("ok-2")).encode() + b"\n", "application/x-ndjson")
    assert answer.status_code == 202, answer.text
    assert [(r["object_id"], r["field"]) for r in _settled(client, answer)["rejections"]] == [("line 1", "body")]
    assert client.get("/objects/caf\ufffd").status_code == 404
    csv = (CSV_HEAD + _csv_rows("caf\u00e9")).encode().replace("caf\u00e9".encode(), b"caf\xe9")
    assert _batch(client, csv, "text/csv").status_code == 400
    assert _score_raw(client, b'{"lightcurves": [{"object_id": "caf\xe9"}]}').status_code in (400, 422)


def test_csv_row_without_object_id_names_the_field(client):
    body = CSV_HEAD + _csv_rows("") + _csv_rows("fine")
    answer = _batch(client, body, "text/csv")
    assert answer.status_code == 202, answer.text
    rejections = _settled(client, answer)["rejections"]
    assert [r["field"] for r in rejections] == ["object_id"] and "nan" not in rejections[0]["object_id"]


def test_openapi_examples_are_accepted(client):
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/batches"]["post"]["requestBody"]["content"]
    for kind in ("text/csv",):
        answer = _batch(client, content[kind]["example"], kind)
        assert answer.status_code == 202, answer.text
    example = spec["components"]["schemas"]["ScoreRequest"]["examples"][0]
    assert client.post("/score", json=example).status_code == 200
    assert "1001004003261" not in json.dumps(spec)  # no real catalogue id in the examples


def test_error_bodies_match_the_declared_schema(client):
    spec = client.get("/openapi.json").json()
    score = spec["paths"]["/score"]["post"]["responses"]
    declared = score["422"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = spec["components"]["schemas"][declared]["properties"]
    answer = client.post("/score", json={"lightcurves": [{"mjd": "x"}]})
    assert answer.status_code == 422 and set(answer.json()) <= set(properties)
    assert isinstance(answer.json()["detail"], str)
    for path, method in (("/batches", "post"), ("/batches/{batch_id}", "get"), ("/anomalies", "get")):
        codes = spec["paths"][path][method]["responses"]
        assert {"400", "404"} <= set(codes) or path == "/batches" and "400" in codes, (path, codes)


def test_anomalies_rank_objects_once_and_check_parameters(client, curves):
    lc = kit.curve_json(curves[0])
    moved = lc | {"mag": [m + 0.5 for m in lc["mag"]]}
    for body in (lc, moved):  # two curves of one object: two scores
        assert client.post("/score", json={"lightcurves": [body]}).status_code == 200
    rows = client.get("/anomalies").json()["data"]
    assert len(rows) == len({r["object_id"] for r in rows})
    assert client.get("/anomalies", params={"colour": "red"}).status_code == 422
    predicted = rows[0]["predicted_class"]
    if predicted:
        upper = client.get("/anomalies", params={"predicted_class": predicted.upper()}).json()["data"]
        assert len(upper) >= 1


def test_empty_pages_keep_column_types(client, curves):
    assert client.post("/score", json={"lightcurves": [kit.curve_json(curves[0])]}).status_code == 200
    for fmt in ("parquet", "votable"):
        full = client.get("/anomalies", params={"format": fmt}).content
        empty = client.get("/anomalies", params={"format": fmt, "min_score": 1e300}).content
        if fmt == "parquet":
            full_types = pd.read_parquet(io.BytesIO(full)).dtypes.astype(str).to_dict()
            empty_types = pd.read_parquet(io.BytesIO(empty)).dtypes.astype(str).to_dict()
        else:
            from astropy.io.votable import parse_single_table

            full_types = {f.name: f.datatype for f in parse_single_table(io.BytesIO(full)).fields}
            empty_types = {f.name: f.datatype for f in parse_single_table(io.BytesIO(empty)).fields}
        assert {k: v for k, v in full_types.items() if k in empty_types} == empty_types, fmt


def test_docs_and_openapi_have_their_own_metrics_route(client):
    client.get("/openapi.json")
    client.get("/docs")
    metrics = client.get("/metrics").text
    assert 'route="/openapi.json"' in metrics and 'route="/docs"' in metrics


def test_curves_with_magnitudes_and_fluxes_are_rejected_alike_in_json_and_csv(client):
    both = _curve("both", flux=[100.0] * 8, flux_err=[1.0] * 8)
    json_answer = client.post("/score", json={"lightcurves": [both]})
    assert json_answer.status_code == 422
    csv = "object_id,mjd,mag,mag_err,flux,flux_err\n" + "".join(
        f"both,{t},{m},{e},100,1\n" for t, m, e in zip(both["mjd"], both["mag"], both["mag_err"], strict=True))
    csv += "".join(f"flux-only,{53000 + 3 * i},,,{100 + i},1\n" for i in range(8))
    csv_answer = _batch(client, csv, "text/csv")
    assert csv_answer.status_code == 202, csv_answer.text
    settled = _settled(client, csv_answer)
    assert [r | {} for r in settled["rejections"]] == [
        {"object_id": "both", "field": "flux", "reason": "ingest: " + json_answer.json()["rejected"][0]["reason"]}]
    assert settled["counts"]["accepted"] == 1  # the flux-only object of the same table


def test_json_lines_and_score_bodies_name_the_same_field(client):
    bad = _curve("typo", mag=[15.0, "bright"] + [15.0] * 6)
    scored = client.post("/score", json={"lightcurves": [bad]}).json()["rejected"]
    batch = _batch(client, json.dumps(bad) + "\n" + json.dumps(_curve("fine")) + "\n", "application/x-ndjson")
    assert [(r["object_id"], r["field"]) for r in scored] == [("typo", "mag.1")]
    assert [(r["object_id"], r["field"]) for r in _settled(client, batch)["rejections"]] == [("typo", "mag.1")]


def test_non_finite_values_in_stored_json_become_null(client):
    accepted = list(accept([LightCurveCreate(**_curve("nan-terms"))], policy_for(["clear"])))
    result = ObjectScore("nan-terms", 1.0, terms={"ias": float("nan"), "x": np.float32(0.5)},
                         reconstruction={"bands": {"clear": {"mu_hat": [1.0, float("inf")]}}})
    sessions = client.app.state.lcad.sessions
    with sessions() as session:
        model = crud.active_model(session=session)
        crud.store_scored(session=session, model_pk=model.id, accepted=accepted, results=[result])
    with sessions() as session:
        stored = session.scalar(select(Score).where(Score.content_hash == accepted[0].content_hash))
    assert stored.terms == {"ias": None, "x": 0.5}
    assert stored.reconstruction == {"bands": {"clear": {"mu_hat": [1.0, None]}}}


def test_a_batch_ranking_keeps_its_objects_scored_again_elsewhere(client, curves):
    made = _batch(client, kit.jsonl(curves[20:22]), "application/x-ndjson")
    assert kit.wait_batch(client, made.headers["Location"])["state"] == "done"
    again = kit.curve_json(curves[20]) | {"mag": [m + 0.3 for m in curves[20].mag.tolist()]}
    assert client.post("/score", json={"lightcurves": [again]}).status_code == 200  # a newer score, not in the batch
    ranked = client.get("/anomalies", params={"batch": made.json()["id"]}).json()["data"]
    assert sorted(r["object_id"] for r in ranked) == sorted(lc.object_id for lc in curves[20:22])
