"""What a score says about itself through the API: the period it used and its source, flags, unknown bands."""

from __future__ import annotations

import lcad_testkit as kit
import pytest
from fastapi.testclient import TestClient

from models.scorers import get_scorer
from service.api.main import create_app
from service.config import Settings


@pytest.fixture(scope="module")
def lcvade_client(tmp_path_factory):
    """The embedded app on a tiny LC-VaDE fitted on the CRTS sample (one band, 'clear')."""
    data = kit.sample()
    path = tmp_path_factory.mktemp("lcvade") / "tiny.pt"
    get_scorer("lcvade", preset="tiny", device="cpu").fit(data.lightcurves, data.labels, max_steps=1).save(path)
    settings = Settings(data_dir=path.parent / "data", model_path=path, rate_limit_per_minute=10_000)
    with TestClient(create_app(settings)) as client:
        yield client


def test_scores_carry_the_period_and_its_source_everywhere(lcvade_client):
    given, bare = (kit.curve_json(lc) for lc in kit.sample().lightcurves[:2])
    bare["period"] = None
    data = lcvade_client.post("/score", json={"lightcurves": [given, bare]}).json()["data"]
    assert (data[0]["period"], data[0]["period_source"]) == (given["period"], "given")
    assert data[1]["period_source"] == "searched" and 0.04 <= data[1]["period"] <= 1000
    ranked = lcvade_client.get("/anomalies").json()["data"]
    assert {(s["object_id"], s["period_source"]) for s in ranked} == {(given["object_id"], "given"),
                                                                       (bare["object_id"], "searched")}
    csv = lcvade_client.get("/anomalies", params={"format": "csv"}).text
    assert "period,period_source,flags" in csv.splitlines()[0]
    detail = lcvade_client.get(f"/objects/{bare['object_id']}").json()
    assert detail["scores"][0]["period"] == pytest.approx(data[1]["period"])


def test_a_curve_with_no_known_band_is_rejected_naming_the_band(lcvade_client):
    curve = kit.curve_json(kit.sample().lightcurves[3]) | {"object_id": "ugriz-only"}
    curve["band"] = ["u"] * len(curve["mjd"])
    answer = lcvade_client.post("/score", json={"lightcurves": [curve]})
    assert answer.status_code == 422
    (rejected,) = answer.json()["rejected"]
    assert rejected["object_id"] == "ugriz-only" and rejected["field"] == "band"
    assert "clear" in rejected["reason"]


def test_unknown_bands_beside_known_ones_are_listed_in_the_flags(lcvade_client):
    curve = kit.curve_json(kit.sample().lightcurves[4])
    n = len(curve["mjd"])
    curve = {**curve, "mjd": curve["mjd"] + [t + 0.01 for t in curve["mjd"][:20]],
             "mag": curve["mag"] + curve["mag"][:20], "mag_err": curve["mag_err"] + curve["mag_err"][:20],
             "band": curve["band"] + ["z"] * 20}
    assert len(curve["band"]) == n + 20
    data = lcvade_client.post("/score", json={"lightcurves": [curve]}).json()["data"]
    assert data[0]["flags"] == ["ignored_band:z"]
