"""Beem Africa: JSON in and out; the latest input only; our request_id round-trips as the hop id."""
from simulator.wire import Beem
from tests.aggregators import Malformed, Table

TABLE = Table(
    wire=Beem,
    skipped={"timeout_notice": "Beem sends one notice, terminate, whatever ended the session"},
    malformed=(
        Malformed("not JSON", b"command=initiate", "JSON"),
        Malformed("a list", b"[1, 2]", "object"),
        Malformed("no command", {"msisdn": "260971234567", "session_id": "1", "payload": {"request_id": 0}},
                  "command"),
        Malformed("unknown command", {"command": "dance", "msisdn": "260971234567", "session_id": "1"}, "command"),
        Malformed("request_id not a number", {"command": "continue", "msisdn": "260971234567", "session_id": "1",
                                              "payload": {"request_id": "abc", "response": "1"}}, "request_id"),
        Malformed("continue without request_id", {"command": "continue", "msisdn": "260971234567",
                                                  "session_id": "1", "payload": {"response": "1"}},
                  "request_id"),
        Malformed("request_id past 2^31-1", {"command": "continue", "msisdn": "260971234567",
                                             "session_id": "1", "payload": {"request_id": 2**31}},
                  "request_id"),
        Malformed("not a phone number", {"command": "initiate", "msisdn": "12", "session_id": "1"}, "phone number"),
        Malformed("payload.response an object", {"command": "continue", "msisdn": "260971234567",
                                                 "session_id": "1", "payload": {"response": {"a": 1}}}, "response"),
    ),
)
