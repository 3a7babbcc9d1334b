"""Arkesel: JSON in and out; the latest input only; no hop number of its own (we count); no notices."""
from simulator.wire import Arkesel
from tests.aggregators import Malformed, Table

TABLE = Table(
    wire=Arkesel,
    skipped={
        "retransmit_mid_session": "Arkesel sends no hop number: a retry of an answered hop is asked "
                                  "about as a repeated pick (repeated_key; ussd_app/aggregators/arkesel.py)",
        "end_notice": "Arkesel sends no end-of-session notice",
        "timeout_notice": "Arkesel sends no end-of-session notice",
    },
    malformed=(
        Malformed("not JSON", b"sessionID=1", "JSON"),
        Malformed("no sessionID", {"msisdn": "260971234567", "newSession": True, "userData": "*123#"}, "sessionID"),
        Malformed("no msisdn", {"sessionID": "a1", "newSession": True, "userData": "*123#"}, "msisdn"),
        Malformed("userData too long", {"sessionID": "a1", "msisdn": "260971234567", "newSession": False,
                                        "userData": "1" * 1001}, "too long"),
    ),
)
