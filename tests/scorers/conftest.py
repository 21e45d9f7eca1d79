"""Shared by the scorer tests: one curve scored through the API by a model file registered there."""

from __future__ import annotations

import pytest


@pytest.fixture
def score_through_api(tmp_path):
    """``(scorer, lc, version) -> the /score answer's body``: saves ``scorer``, registers it as ``version`` with an
    admin key and scores ``lc`` with it, on an embedded app of its own."""
    from fastapi.testclient import TestClient

    from service import crud
    from service.api.main import create_app
    from service.config import Settings

    def score(scorer, lc, version: str) -> dict:
        path = tmp_path / f"{version}.pt"
        scorer.save(path)
        settings = Settings(data_dir=tmp_path / "data", model_path=path, models_dir=tmp_path,
                            rate_limit_per_minute=10_000)
        curve = {"object_id": lc.object_id, "mjd": lc.mjd.tolist(), "mag": lc.mag.tolist(),
                 "mag_err": lc.mag_err.tolist(), "band": [str(b) for b in lc.band], "period": lc.period}
        with TestClient(create_app(settings)) as client:
            with client.app.state.lcad.sessions() as session:
                _, key = crud.create_api_key(session=session, name="t", scopes=["admin", "read", "submit"])
            admin = {"Authorization": f"Bearer {key}"}
            created = client.post("/models", json={"path": path.name, "version": version}, headers=admin)
            assert created.status_code == 201, created.text
            answer = client.post("/score", json={"lightcurves": [curve], "model": version}, headers=admin)
            assert answer.status_code == 200, answer.text
        return answer.json()

    return score
