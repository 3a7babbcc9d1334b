"""Africa's Talking: form in, CON/END out; the path is cumulative; notices go to its events URL."""
from simulator.wire import AfricasTalking, Call
from tests.aggregators import Malformed, Table


class _Wire(AfricasTalking):
    def end_notice(self, call: Call) -> dict:
        return {"sessionId": call.session_id, "phoneNumber": call.msisdn, "serviceCode": call.service_code,
                "networkCode": "64501", "status": "Success", "date": "2026-12-06 04:00:00", "hopsCount": "2",
                "input": "*".join(call.inputs), "lastAppResponse": "CON hi", "cost": "KES 0.10"}

    def timeout_notice(self, call: Call) -> dict:
        return {**self.end_notice(call), "status": "Incomplete", "errorMessage": "timeout"}



TABLE = Table(
    wire=_Wire,
    notice_path="/ussd/africastalking/events",
    after_lost_session="walked again",           # the text is the whole path: the session is rebuilt from it
    malformed=(
        Malformed("no phoneNumber", {"sessionId": "s1", "text": ""}, "phoneNumber",
                  "application/x-www-form-urlencoded"),
        Malformed("not a phone number", {"sessionId": "s1", "phoneNumber": "hello", "text": ""}, "phone number",
                  "application/x-www-form-urlencoded"),
        Malformed("another aggregator's session id",
                  {"sessionId": "hubtel:s1", "phoneNumber": "+260971234567", "text": ""}, "sessionId",
                  "application/x-www-form-urlencoded"),
        Malformed("JSON instead of a form", b'{"sessionId": "s1"}', "form"),
    ),
)
