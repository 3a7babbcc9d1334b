"""The handset's inbox step: SMS from one action may arrive together or one after the other; a step takes the
new ones up to the one that completes its fragments and leaves the rest for the next step."""
from __future__ import annotations

import pytest

from simulator.phone import Phone


class Arrivals:
    """An inbox whose messages appear one `settle` at a time (the worker catching up), as the AT fake's would."""

    def __init__(self, batches: list[list[str]]):
        self.batches, self.box = list(batches), []

    async def settle(self) -> None:
        if self.batches:
            self.box += [{"text": t} for t in self.batches.pop(0)]

    async def inbox(self, msisdn: str) -> list[dict]:
        if not self.box:
            await self.settle()
        return self.box


RESULT, PAID, OTHER = "#1 PASSED, 2 yes", "K60.00 was paid", "Unrelated news"
STEPS = [("PASSED",), ("was paid",)]


@pytest.mark.parametrize("batches", [
    [[RESULT, PAID]],                 # both at once (the payout was quick)
    [[RESULT], [PAID]],               # one after the other
    [[RESULT], [], [], [PAID]],       # the payout took a few rounds
    [[OTHER, RESULT], [PAID]],        # something else first
], ids=["together", "apart", "later", "other-first"])
async def test_each_inbox_step_finds_its_message_whatever_the_arrival_order(batches):
    phone = Phone(Arrivals(batches), "+260971000803")
    for fragments in STEPS:
        taken = await phone.sms_showing(fragments, wait=1.0)
        assert any(all(f in m["text"] for f in fragments) for m in taken), (fragments, taken)


async def test_a_missing_message_takes_everything_new_and_says_so():
    phone = Phone(Arrivals([[RESULT]]), "+260971000803")
    taken = await phone.sms_showing(("was paid",), wait=0.3)
    assert [m["text"] for m in taken] == [RESULT] and phone.sms_seen == 1
