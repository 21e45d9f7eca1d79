"""What an attacker tried in the audit of issue 12, section 1: each must now fail safely."""

from __future__ import annotations

import os
import shutil

import lcad_testkit as kit
import pytest
import torch
from fastapi.testclient import TestClient

from service import crud
from service.api.main import create_app
from service.config import Settings


def _key(client, scopes, rate_limit=None) -> dict[str, str]:
    with client.app.state.lcad.sessions() as session:
        _, plain = crud.create_api_key(session=session, name="t", scopes=scopes, rate_limit_per_minute=rate_limit)
    return {"Authorization": f"Bearer {plain}"}


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def locked(embedded_settings):
    settings = embedded_settings.model_copy(update={"anonymous_scopes": []})
    with TestClient(create_app(settings)) as client:
        yield client


def test_models_register_only_safe_files_of_the_models_dir_and_never_tell_which_paths_exist(
        locked, model_file, tmp_path):
    admin = _key(locked, ["admin", "read"])
    models_dir = model_file.parent
    marker = tmp_path / "pwned"
    torch.save({"format": 1, "scorer": "iforest", "state": {"forest": _RunsCode(marker)}}, models_dir / "evil.pt")
    outside = tmp_path / "outside.pt"
    shutil.copy(model_file, outside)
    answers = [locked.post("/models", json={"path": str(path)}, headers=admin)
               for path in (models_dir / "evil.pt", outside, tmp_path / "missing.pt", "/etc/passwd", "../x.pt")]
    assert [a.status_code for a in answers] == [422] * 5
    assert len({a.text for a in answers}) == 1  # one answer for all: no path-existence oracle
    assert not marker.exists()
    assert locked.post("/models", json={"path": model_file.name, "version": "ok"}, headers=admin).status_code == 201


def test_a_model_file_changed_after_registration_is_refused(locked, model_file, curves):
    admin = _key(locked, ["admin", "read", "submit"])
    copy = model_file.parent / "changing.pt"
    shutil.copy(model_file, copy)
    assert locked.post("/models", json={"path": copy.name, "version": "changing"}, headers=admin).status_code == 201
    kit.fit_model(copy, n_estimators=20)  # other bytes at the registered path
    body = {"lightcurves": [kit.curve_json(curves[0])], "model": "changing"}
    answer = locked.post("/score", json=body, headers=admin)
    assert answer.status_code == 503 and "SHA-256" not in answer.text
    again = locked.post("/models", json={"path": copy.name, "version": "changing"}, headers=admin)
    assert again.status_code == 409


def test_failed_authentications_are_throttled_per_address(embedded_settings):
    settings = embedded_settings.model_copy(update={"auth_failures_per_minute": 3})
    with TestClient(create_app(settings)) as client:
        good = _key(client, ["read"])
        codes = [client.get("/anomalies", headers={"Authorization": f"Bearer lcad_guess{i}"}).status_code
                 for i in range(5)]
        assert codes == [401, 401, 401, 429, 429]
        assert client.get("/anomalies", headers=good).status_code == 429  # a lucky guess is not even checked
    with TestClient(create_app(settings), client=("192.0.2.7", 1)) as other:
        assert other.get("/anomalies", headers=good).status_code == 200


def test_forwarded_for_is_believed_only_from_configured_proxies(embedded_settings):
    settings = embedded_settings.model_copy(update={"rate_limit_per_minute": 2})

    def codes(client):
        return [client.get("/anomalies", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(4)]

    with TestClient(create_app(settings), client=("203.0.113.9", 1)) as client:
        assert codes(client) == [200, 200, 429, 429]  # rotating the header escapes nothing
    proxied = settings.model_copy(update={"trusted_proxies": ["10.0.0.0/8"]})
    with TestClient(create_app(proxied), client=("10.1.2.3", 1)) as client:
        assert codes(client) == [200] * 4  # behind our proxy, each forwarded client has its own count


def test_rate_limits_are_counted_in_redis_across_replicas(embedded_settings, redis_server, tmp_path):
    settings = embedded_settings.model_copy(update={"broker_url": redis_server.url, "rate_limit_per_minute": 3,
                                                    "queue": f"rl-{tmp_path.name}"})
    replicas = [settings.model_copy(update={"data_dir": tmp_path / f"r{i}"}) for i in range(2)]
    address = ("192.0.2.33", 1)  # a caller of its own: other tests share this Redis
    with TestClient(create_app(replicas[0]), client=address) as one, \
            TestClient(create_app(replicas[1]), client=address) as two:
        codes = [c.get("/anomalies").status_code for c in (one, two, one, two)]
    assert codes == [200, 200, 200, 429]


def test_production_grants_nothing_without_a_key(tmp_path, model_file):
    settings = Settings(environment="production", data_dir=tmp_path / "d", model_path=model_file)
    assert settings.anonymous_scopes == []
    with TestClient(create_app(settings)) as client:
        assert client.get("/anomalies").status_code == 401
    assert Settings(data_dir=tmp_path / "d").anonymous_scopes == ["read", "submit"]


def test_batches_and_their_results_belong_to_the_key_that_made_them(locked, curves):
    alice, bob = _key(locked, ["read", "submit"]), _key(locked, ["read", "submit"])
    admin = _key(locked, ["read", "admin"])
    headers = {"Content-Type": "application/x-ndjson", "Idempotency-Key": "same-key"}
    made = locked.post("/batches", content=kit.jsonl(curves[:3]), headers=alice | headers)
    assert made.status_code == 202
    location, batch_id = made.headers["Location"], made.json()["id"]
    for path in (location, f"{location}/results", f"/anomalies?batch={batch_id}"):
        assert locked.get(path, headers=bob).status_code == 404, path
        assert locked.get(path, headers=alice).status_code == 200, path
        assert locked.get(path, headers=admin).status_code == 200, path
    # Idempotency keys are per caller: Bob's "same-key" is a new batch, not Alice's.
    theirs = locked.post("/batches", content=kit.jsonl(curves[3:5]), headers=bob | headers)
    assert theirs.status_code == 202 and theirs.json()["id"] != batch_id


def test_csv_exports_defuse_spreadsheet_formulas(embedded_client, curves):
    curve = kit.curve_json(curves[0]) | {"object_id": '=HYPERLINK("http://evil.example","x")'}
    assert embedded_client.post("/score", json={"lightcurves": [curve]}).status_code == 200
    csv = embedded_client.get("/anomalies", params={"format": "csv"}).text
    assert "'=HYPERLINK" in csv and "\n=HYPERLINK" not in csv


def test_errors_do_not_echo_whole_inputs(embedded_client):
    huge = "x" * 1_000_000
    body = {"lightcurves": [{"object_id": huge, "mjd": [huge], "mag": [1.0], "mag_err": [0.1]}]}
    answer = embedded_client.post("/score", json=body)
    assert answer.status_code == 422 and len(answer.content) < 5_000
