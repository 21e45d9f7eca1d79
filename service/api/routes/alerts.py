"""``POST /alerts``: survey alert packets (ZTF, Rubin) that grow stored objects and queue them for scoring."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from service.alert_ingest import ingest_records, registered_schemas, request_packets
from service.api.deps import StateDep, SubmitDep
from service.schemas import AlertsPublic

router = APIRouter(prefix="/alerts", tags=["alerts"])

BODY = {"requestBody": {"required": True, "description": "one or many alert packets", "content": {
    "avro/binary": {"schema": {"type": "string", "format": "binary"},
                    "description": "an Avro container file (many packets), or one packet in the Confluent framing "
                                   "(magic byte, schema id registered in LCAD_ALERT_SCHEMAS, schemaless body)"},
    "application/json": {"schema": {"type": "object"}, "description": "one packet, or a list of packets"}}}}


@router.post("", status_code=202, response_model=AlertsPublic, openapi_extra=BODY,
             responses={422: {"description": "every packet rejected (reasons name the packet and the field)"}})
async def post_alerts(request: Request, response: Response, state: StateDep, principal: SubmitDep) -> AlertsPublic:
    """Store the packets' new points (deduplicated by time and band) and queue objects whose curves grew enough."""
    body = await request.body()
    packets = request_packets(body, registered_schemas(state.settings))
    outcome = await run_in_threadpool(ingest_records, state=state, items=packets, owner=principal.owner)
    if outcome.accepted == 0:
        response.status_code = 422
    elif outcome.batch_id is not None:
        response.headers["Location"] = f"/batches/{outcome.batch_id}"
    return outcome.public()
