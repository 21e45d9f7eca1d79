"""Auth, rate limits, models, objects, plots, formats, health and the OpenAPI document."""

from __future__ import annotations

import io

import lcad_testkit as kit
import pytest
from astropy.io.votable import parse_single_table
from fastapi.testclient import TestClient

from service import crud, runtime
from service.api.main import create_app
from service.config import Settings


def _key(client, scopes, rate_limit=None) -> dict[str, str]:
    with client.app.state.lcad.sessions() as session:
        _, plain = crud.create_api_key(session=session, name="t", scopes=scopes, rate_limit_per_minute=rate_limit)
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def locked_client(embedded_settings):
    """Anonymous users may only read."""
    settings = embedded_settings.model_copy(update={"anonymous_scopes": ["read"]})
    with TestClient(create_app(settings)) as client:
        yield client


def test_scopes_keys_and_rate_limits(locked_client, curves, model_file):
    body = {"lightcurves": [kit.curve_json(curves[0])]}
    assert locked_client.post("/score", json=body).status_code == 401
    assert locked_client.get("/anomalies").status_code == 200  # reads are open by config
    bad = locked_client.post("/score", json=body, headers={"Authorization": "Bearer lcad_not_a_key"})
    assert bad.status_code == 401 and bad.json()["detail"] == "invalid or revoked API key"
    reader = _key(locked_client, ["read"])
    assert locked_client.post("/score", json=body, headers=reader).status_code == 403
    submitter = _key(locked_client, ["read", "submit"], rate_limit=3)
    codes = [locked_client.post("/score", json=body, headers=submitter).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = locked_client.get("/anomalies", headers=submitter)
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    # Registering a model is an admin action.
    request = {"path": str(model_file), "version": "iforest-copy", "metrics": {"auroc": 0.5}, "activate": True}
    assert locked_client.post("/models", json=request, headers=reader).status_code == 403
    created = locked_client.post("/models", json=request, headers=_key(locked_client, ["admin", "read"]))
    assert created.status_code == 201, created.text
    models = locked_client.get("/models").json()
    assert models["active"] == "iforest-copy" and models["count"] == 2


def test_object_scores_plot_and_formats(embedded_client, curves):
    lc = curves[5]
    scored = embedded_client.post("/score", json={"lightcurves": [kit.curve_json(lc)]}).json()
    detail = embedded_client.get(f"/objects/{lc.object_id}").json()
    assert detail["lightcurves"][0]["mjd"] == lc.mjd.tolist()
    assert [s["anomaly_score"] for s in detail["scores"]] == [scored["data"][0]["anomaly_score"]]
    assert detail["scores"][0]["model"] == scored["model"]
    png = embedded_client.get(f"/objects/{lc.object_id}/plot.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    votable = embedded_client.get("/anomalies", params={"format": "votable"})
    table = parse_single_table(io.BytesIO(votable.content)).to_table()
    assert list(table["object_id"]) == [lc.object_id]


def test_health_ready_metrics_and_openapi(embedded_client):
    assert embedded_client.get("/healthz").json() == {"status": "ok"}
    ready = embedded_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model_loaded"] is True
    embedded_client.get("/healthz")
    assert 'lcad_http_requests_total{method="GET",route="/healthz",status="200"}' in embedded_client.get(
        "/metrics").text
    schema = embedded_client.get("/openapi.json").json()
    assert {"/score", "/batches", "/batches/{batch_id}", "/batches/{batch_id}/results", "/anomalies",
            "/objects/{object_id}", "/objects/{object_id}/plot.png", "/models", "/healthz", "/readyz",
            "/metrics"} <= set(schema["paths"])
    assert schema["components"]["schemas"]["ScoreRequest"]["examples"]
    assert "application/x-ndjson" in schema["paths"]["/batches"]["post"]["requestBody"]["content"]


def test_without_a_model_file_readyz_says_so_instead_of_crashing(tmp_path, monkeypatch):
    monkeypatch.setattr(runtime, "DEFAULT_MODEL_PATH", tmp_path / "missing.pt")
    with TestClient(create_app(Settings(data_dir=tmp_path / "data"))) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["model_loaded"] is False and "not found" in ready.json()["detail"]["model"]
        assert ready.json()["database"] is True
        score = client.post("/score", json={"lightcurves": [kit.curve_json(kit.sample().lightcurves[0])]})
        assert score.status_code == 503 and "no active model" in score.json()["detail"]


def test_cli_keys_create_and_model_register(tmp_path, monkeypatch, capsys, model_file):
    from service.cli import keys, model
    from service.config import get_settings

    monkeypatch.setenv("LCAD_DATA_DIR", str(tmp_path / "cli"))
    get_settings.cache_clear()
    try:
        parser_args = _parse(keys, ["keys", "create", "alice", "--scopes", "read,submit"])
        assert parser_args.func(parser_args) == 0
        plain = capsys.readouterr().out.strip()
        assert plain.startswith("lcad_")
        args = _parse(model, ["model", "register", str(model_file), "--activate"])
        args.func(args)
        assert capsys.readouterr().out.strip().endswith("(active)")
        with TestClient(create_app(get_settings().model_copy(update={"anonymous_scopes": []}))) as client:
            assert client.get("/models").status_code == 401
            models = client.get("/models", headers={"Authorization": f"Bearer {plain}"}).json()
            # The CLI's --activate choice survives a restart (a shipped default model registers without activating).
            assert models["active"].startswith("iforest-")
    finally:
        get_settings.cache_clear()


def _parse(module, argv):
    import argparse

    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)
