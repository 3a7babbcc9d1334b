"""The step list: everything a run will do, drawn from one seed before anything runs.

A step is plain data (a kind and its arguments), so a seed always gives the same list, a failing list can be
printed, shortened and replayed. What a step does is in `world.py`; concurrency is itself a step (a group run
at once), so the interleavings a seed tries are part of its list.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

PIN, WRONG_PIN = "4826", "1111"
# Zambian numbers on three networks: MTN MoMo (096), Airtel Money (097), Zamtel through pawaPay (095).
NUMBERS = ("+260961700001", "+260971700002", "+260961700003", "+260951700004", "+260971700005",
           "+260961700006")
MTN_USERS = (0, 2, 5)                     # the fake MTN can answer slowly
STRANGER = "+260961700099"                # never registered: a hop from another number
START_MONEY, START_WH = 200_000, 5_000     # each user's operator credit (K2,000.00 and 5 kWh)

# What can follow the last (money) hop of a journey: the aggregator retransmitting it.
RETRIES = ("none", "none", "none", "same", "copies", "forget", "forget", "after_end", "foreign")
PROVIDER_FAULTS = ("lose_callback", "lose_callback", "duplicate_callback", "http500_after", "payout_fail",
                   "status_500", "fast_decide")


@dataclass(frozen=True)
class Step:
    kind: str
    user: int = 0
    args: tuple = ()

    def __str__(self) -> str:
        args = ", ".join(repr(a) for a in self.args)
        return f"{self.kind}(u{self.user}{', ' + args if args else ''})"


CHAIRS = {0: (1, 2), 3: (4, 5)}            # two clusters: chair -> members who join by its code
SUPPLIER = "0961700090"                    # a supplier's MTN MoMo number, paid from a pool
METER_USERS = (1, 4)                       # users with a meter an operator registered


def setup_steps() -> list[Step]:
    """Every run starts the same way: users register by USSD, get an operator credit, turn Trade by SMS on,
    and form two clusters (open to anyone with the code)."""
    steps = [Step("register", u) for u in range(len(NUMBERS))]
    steps += [Step("fund", u, (START_MONEY, START_WH)) for u in range(len(NUMBERS))]
    steps += [Step("smspin", u) for u in range(len(NUMBERS))]
    for chair, members in CHAIRS.items():
        steps += [Step("cluster", chair)] + [Step("join", m, (chair,)) for m in members]
    return steps + [Step("meter", u) for u in METER_USERS]


def plan(seed: int, count: int) -> list[Step]:
    """`count` random steps after the setup; a SELL or BUY by SMS is answered by `YES <PIN>` a few steps on."""
    rnd = random.Random(seed)
    steps: list[Step] = []
    later: dict[int, list[Step]] = {}
    while len(steps) < count:
        steps += later.pop(len(steps), [])
        step = _draw(rnd)
        steps.append(step)
        if step.kind == "sms" and step.args[0].split()[0] in ("SELL", "BUY"):
            steps += _spend_meanwhile(rnd, step)
            yes = f"YES {PIN if rnd.random() < 0.85 else WRONG_PIN}"
            later.setdefault(len(steps) + rnd.randint(0, 2), []).append(Step("sms", step.user, (yes,)))
    return setup_steps() + steps[:count]


def _spend_meanwhile(rnd: random.Random, proposal: Step) -> list[Step]:
    """Often every kWh is listed by USSD before the `YES` (the phantom-order attack of issue 14)."""
    word, *args = proposal.args[0].split()
    if word != "SELL" or rnd.random() < 0.4:
        return []
    return [Step("sell", proposal.user, ("all", _price(rnd), PIN, "none"))]


WEIGHTS = {"send": 8, "deposit": 8, "withdraw": 10, "sell": 9, "buy": 9, "cancel": 4, "sms": 16,
           "contribute": 6, "propose": 3, "vote": 6, "ask": 2, "reading": 4,
           "burst": 8, "storm": 5, "slow": 2, "fault": 6, "callback_again": 3, "jobs": 6, "clock": 2,
           "register_again": 1}


def _draw(rnd: random.Random) -> Step:
    kind = rnd.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    user = rnd.randrange(len(NUMBERS))
    return DRAW[kind](rnd, user)


def _pin(rnd: random.Random) -> str:
    return PIN if rnd.random() < 0.85 else WRONG_PIN


def _amount(rnd: random.Random) -> str:
    """Kwacha as typed: mostly good, sometimes zero, too fine, not a number, or over the limits."""
    if rnd.random() < 0.1:
        return rnd.choice(["0", "12.345", "abc", "999999", "-5"])
    return str(rnd.choice([20, 50, 75, 100, 150, 200, 250, 300]))


def _kwh(rnd: random.Random) -> str:
    if rnd.random() < 0.08:
        return rnd.choice(["0", "0.05", "x", "500"])
    return f"{rnd.randint(1, 40) / 10:g}"


def _price(rnd: random.Random) -> str:
    return f"{rnd.randint(5, 20) / 10:.2f}" if rnd.random() > 0.05 else rnd.choice(["0.03", "1.234", "99"])


def _retry(rnd: random.Random) -> str:
    return rnd.choice(RETRIES)


DRAW = {
    "send": lambda r, u: Step("send", u, ((u + r.randint(1, len(NUMBERS) - 1)) % len(NUMBERS) if r.random() > 0.05
                                          else -1, _amount(r), _pin(r), _retry(r))),
    "deposit": lambda r, u: Step("deposit", u, (_amount(r), _retry(r))),
    "withdraw": lambda r, u: Step("withdraw", u, (_amount(r), _pin(r), _retry(r))),
    "sell": lambda r, u: Step("sell", u, (_kwh(r), _price(r), _pin(r), _retry(r))),
    "buy": lambda r, u: Step("buy", u, (_kwh(r), r.choice("12"), _pin(r), _retry(r))),
    "cancel": lambda r, u: Step("cancel", u, (r.randint(1, 2),)),
    "contribute": lambda r, u: Step("contribute", u, (_amount(r), _pin(r), _retry(r))),
    "propose": lambda r, u: Step("propose", u, (str(r.choice([20, 50, 80])),)),
    # A vote on the newest open proposal of the user's cluster, by SMS or USSD.
    "vote": lambda r, u: Step("vote", u, (r.choice(["yes", "yes", "no"]), r.choice(["sms", "ussd"]))),
    # A meter's cumulative registers: new, repeated, going backwards, with a wrong secret, several at once.
    "reading": lambda r, u: Step("reading", r.choice(METER_USERS), (r.randint(0, 8000), r.randint(0, 2000), r.choice(
        ["new", "new", "repeat", "backwards", "wrong_secret", "burst"]))),
    "ask": lambda r, u: Step("ask", u, (r.choice(["ASK how do I store solar power at night", "ASK price of kwh",
                                                  "ULIZA bei ya umeme", "ussd"]),)),
    "sms": lambda r, u: Step("sms", u, (r.choice([f"SELL {_kwh(r)} {_price(r)}", f"BUY {_kwh(r)}",
                                                  f"SELL {r.randint(25, 50) / 10:g} {_price(r)}", f"BUY {_kwh(r)}",
                                                  f"YES {_pin(r)}", "BAL", "PRICE"]),)),
    # Sessions of one user confirming deposits or withdrawals all at once (the daily limit raced: "rest" is what
    # is left of today's limit, so any two that pass together pass it), or all typing wrong PINs.
    "burst": lambda r, u: Step("burst", u, (r.randint(3, 6), r.choice(["rest", "rest", "250", "300"]),
                                            r.choice(["deposit", "withdraw"]))),
    "storm": lambda r, u: Step("storm", u, (r.randint(4, 6),)),
    # A provider slower than the session lock, the same hop sent again while it answers (lock kept or lost).
    "slow": lambda r, u: Step("slow", r.choice(MTN_USERS), (r.choice(["withdraw", "deposit"]), _amount(r),
                                                            r.choice(["kept", "expired"]))),
    "fault": lambda r, u: _fault(r, u),
    "callback_again": lambda r, u: Step("callback_again", u, (r.random(),)),
    "jobs": lambda r, u: Step("jobs", u),
    "clock": lambda r, u: Step("clock", u, (r.choice([11, 31, 6 * 60, 24 * 60]),)),
    "register_again": lambda r, u: Step("register_again", u),
}


def _fault(rnd: random.Random, user: int) -> Step:
    what = rnd.choice(["redis", "provider", "provider", "kill", "kill"])
    if what == "provider":
        return Step("fault", user, ("provider", rnd.choice(PROVIDER_FAULTS), rnd.randint(1, 2)))
    if what == "kill":
        return Step("fault", user, ("kill", rnd.choice(["payments.after_open", "payments.settle.after_post",
                                                        "sms.send.after_claim"])))
    return Step("fault", user, (what,))
