"""Labels (scope, REST, filter, export), the pages' one-row-per-object list, content negotiation and offline /docs."""

from __future__ import annotations

import io

import lcad_testkit as kit
import pandas as pd

from models.plots import in_magnitudes
from service import crud
from service.db import LightCurveRow, Score
from service.web.views import period_used

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _key(client, scopes) -> dict[str, str]:
    with client.app.state.lcad.sessions() as session:
        _, plain = crud.create_api_key(session=session, name="vetter", scopes=scopes)
    return {"Authorization": f"Bearer {plain}"}


def _score(client, curves) -> None:
    answer = client.post("/score", json={"lightcurves": [kit.curve_json(lc) for lc in curves]})
    assert answer.status_code == 200, answer.text


def test_labels_need_the_label_scope_and_feed_filters_and_exports(embedded_client, curves):
    _score(embedded_client, curves[:5])
    target = curves[2].object_id
    body = {"kind": "known_type", "known_class": "RRab", "note": "Blazhko"}
    assert embedded_client.post(f"/objects/{target}/labels", json=body).status_code == 401
    reader = _key(embedded_client, ["read"])
    assert embedded_client.post(f"/objects/{target}/labels", json=body, headers=reader).status_code == 403
    labeller = _key(embedded_client, ["read", "label"])
    unnamed = embedded_client.post(f"/objects/{target}/labels", json={"kind": "known_type"}, headers=labeller)
    assert unnamed.status_code == 422
    assert embedded_client.post("/objects/nope/labels", json=body, headers=labeller).status_code == 404
    first = embedded_client.post(f"/objects/{target}/labels", json=body, headers=labeller)
    assert first.status_code == 201 and first.json()["author"] == "vetter"
    embedded_client.post(f"/objects/{target}/labels", json={"kind": "artefact", "note": "trail"}, headers=labeller)

    history = embedded_client.get(f"/objects/{target}/labels").json()
    assert [lab["kind"] for lab in history["data"]] == ["artefact", "known_type"]  # newest (current) first
    artefacts = embedded_client.get("/anomalies", params={"label": "artefact"}).json()["data"]
    assert [(s["object_id"], s["label_note"]) for s in artefacts] == [(target, "trail")]
    assert embedded_client.get("/anomalies", params={"label": "known_type"}).json()["data"] == []
    unlabelled = embedded_client.get("/anomalies", params={"label": "unlabelled"}).json()["data"]
    assert sorted(s["object_id"] for s in unlabelled) == sorted(lc.object_id for lc in curves[:5] if lc.object_id
                                                                != target)
    table = pd.read_csv(io.BytesIO(embedded_client.get("/anomalies", params={"format": "csv"}).content),
                        keep_default_na=False, dtype={"object_id": str})
    assert table.set_index("object_id").loc[target, "label"] == "artefact"


def test_the_list_has_one_row_per_object_however_often_it_was_scored(embedded_client, curves):
    lc = curves[7]
    _score(embedded_client, [lc.select(slice(0, len(lc) * 3 // 4)), curves[8]])
    _score(embedded_client, [lc])  # the curve grew: a second stored score of the same object
    assert len(embedded_client.get("/anomalies").json()["data"]) == 2  # the API ranks objects too (issue 12)
    page = embedded_client.get("/", headers=HTML)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.text.count(f'data-object-id="{lc.object_id}"') == 1
    assert page.text.count('class="object-row"') == 2


def test_object_answers_html_to_browsers_and_json_to_clients(embedded_client, curves):
    lc = curves[3]
    _score(embedded_client, [lc])
    page = embedded_client.get(f"/objects/{lc.object_id}", headers=HTML)
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="fig-raw"' in page.text and 'id="fig-folded"' in page.text and 'id="fig-history"' in page.text
    assert embedded_client.get(f"/objects/{lc.object_id}").json()["object_id"] == lc.object_id
    assert embedded_client.get("/objects/nope", headers=HTML).status_code == 404


def test_api_docs_name_no_outside_host(embedded_client):
    assert embedded_client.get("/redoc").status_code == 404  # ReDoc's bundle draws a logo from cdn.redoc.ly
    page = embedded_client.get("/docs")
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text
    assets = [part.split('"')[0] for part in page.text.split('src="')[1:]]
    assert assets and all(embedded_client.get(a).status_code == 200 for a in assets)


def test_period_used_reads_the_score_and_falls_back_for_old_scores():
    given = LightCurveRow(period=0.5)
    unknown = LightCurveRow(period=None)
    assert period_used(Score(period=0.7, period_source="searched"), given) == (0.7, "searched")
    assert period_used(Score(period=0.5, period_source=None), given) == (0.5, "given")
    assert period_used(Score(period=None, period_source=None), given) == (0.5, "given")  # stored before 0005
    assert period_used(None, unknown) == (None, "none stored")


def test_reconstructions_go_back_to_magnitudes_by_the_stored_mean_and_std():
    band = {"phase": [0.1, 0.6], "mag": [0.0, 2.0], "err": [0.1, 0.2], "mu_hat": [1.0, -1.0],
            "sigma_hat": [0.5, 0.5], "mu_ind": [0.0], "sigma_ind": [1.0], "mean_mag": 15.0, "std_mag": 0.5}
    real = in_magnitudes(band)
    assert real["mag"].tolist() == [15.0, 16.0] and real["mu_hat"].tolist() == [15.5, 14.5]
    assert real["err"].tolist() == [0.05, 0.1] and real["sigma_ind"].tolist() == [0.5]


def test_feedback_ranking_needs_latent_means_and_says_so(embedded_client, curves):
    _score(embedded_client, curves[:3])  # the test model is an isolation forest: no latent space
    answer = embedded_client.get("/anomalies", params={"ranking": "feedback"})
    assert answer.status_code == 409 and "stores no latent means" in answer.json()["detail"]
    page = embedded_client.get("/", params={"ranking": "feedback"}, headers=HTML)
    assert page.status_code == 200 and 'id="problem"' in page.text
