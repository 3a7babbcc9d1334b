"""Hubtel: JSON in and out; the latest input only; its Sequence is the hop id; release and timeout notices."""
from simulator.wire import Hubtel
from tests.aggregators import Malformed, Table

TABLE = Table(
    wire=Hubtel,
    malformed=(
        Malformed("not JSON", b"<xml/>", "JSON"),
        Malformed("no Type", {"Mobile": "260971234567", "SessionId": "x", "Sequence": "1"}, "Type"),
        Malformed("unknown Type", {"Type": "Hello", "Mobile": "260971234567", "SessionId": "x"}, "Type"),
        Malformed("no Sequence", {"Type": "Response", "Mobile": "260971234567", "SessionId": "x", "Message": "1"},
                  "Sequence"),
        Malformed("no SessionId", {"Type": "Initiation", "Mobile": "260971234567", "Sequence": "1"}, "SessionId"),
        Malformed("Mobile a list", {"Type": "Initiation", "Mobile": ["2609"], "SessionId": "x"}, "Mobile"),
    ),
)
