"""What a payment's owner is told by SMS: received, sent, refused (and why), or being checked by hand."""
from __future__ import annotations

from enerlectra.domain.money import format_money
from enerlectra.i18n import _


def payment_ok_text(user, payment, _user=None) -> str:
    amount = format_money(payment.amount, payment.currency)
    if payment.direction == "collection" and (payment.purpose or "").startswith("rent:"):
        return _("Enerlectra: deposit of {amount} received. Dial again to rent at station {code}. Ref {ref}.").format(
            amount=amount, code=payment.purpose.split(":", 1)[1], ref=payment.reference[:8])
    if payment.direction == "collection":
        return _("Enerlectra: deposit of {amount} received. It is in your wallet. Ref {ref}.").format(
            amount=amount, ref=payment.reference[:8])
    return _("Enerlectra: {amount} sent to your mobile money wallet. Ref {ref}.").format(
        amount=amount, ref=payment.reference[:8])


REASONS = {
    "NOT_ENOUGH_FUNDS": lambda: _("not enough funds"), "PAYER_LIMIT_REACHED": lambda: _("not enough funds"),
    "APPROVAL_REJECTED": lambda: _("it was declined"), "PAYMENT_NOT_APPROVED": lambda: _("it was declined"),
    "TRANSACTION_CANCELED": lambda: _("it was declined"), "EXPIRED": lambda: _("it timed out"),
    "OPERATOR": lambda: _("no payment reached us"),
}


def payment_checking_text(user, payment) -> str:
    """A payment the provider has not confirmed in a way we can trust: an operator checks it by hand."""
    amount = format_money(payment.amount, payment.currency)
    if payment.direction == "collection" and (payment.purpose or "").startswith("rent:"):
        return _("Enerlectra: deposit of {amount} received. Dial again to rent at station {code}. Ref {ref}.").format(
            amount=amount, code=payment.purpose.split(":", 1)[1], ref=payment.reference[:8])
    if payment.direction == "collection":
        return _("Enerlectra: we are checking your deposit of {amount} with the mobile money service. You will "
                 "get an SMS when it is settled. Ref {ref}.").format(amount=amount, ref=payment.reference[:8])
    return _("Enerlectra: we are checking your withdrawal of {amount} with the mobile money service. You will "
             "get an SMS when it is settled. Ref {ref}.").format(amount=amount, ref=payment.reference[:8])


def payment_failed_text(user, payment, reason: str | None) -> str:
    why = REASONS.get(reason or "", lambda: _("the mobile money service refused it"))()
    amount = format_money(payment.amount, payment.currency)
    if payment.direction == "collection" and (payment.purpose or "").startswith("rent:"):
        return _("Enerlectra: deposit of {amount} received. Dial again to rent at station {code}. Ref {ref}.").format(
            amount=amount, code=payment.purpose.split(":", 1)[1], ref=payment.reference[:8])
    if payment.direction == "collection":
        return _("Enerlectra: deposit of {amount} did not go through: {why}. Nothing was taken.").format(
            amount=amount, why=why)
    return _("Enerlectra: withdrawal of {amount} did not go through: {why}. The money is back in your "
             "wallet.").format(amount=amount, why=why)
