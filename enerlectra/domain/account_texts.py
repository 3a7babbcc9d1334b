"""What an account is told by SMS: welcome, money sent and received, credits, meter readings."""
from __future__ import annotations

from enerlectra.domain.ledger import ENERGY
from enerlectra.domain.money import format_energy, format_money
from enerlectra.i18n import _, in_language_of


def welcome_text(name: str) -> str:
    return _("Welcome to Enerlectra, {name}! Dial *123# any time for your menu. Send HELP to learn our SMS "
             "commands.").format(name=name)


def sent_text(user, amount: int, fee: int, recipient, ref: int) -> str:
    return _("Enerlectra: you sent {amount} to {name} {number}. Fee {fee}. Ref {ref}.").format(
        amount=format_money(amount, user.currency), name=recipient.name, number=recipient.msisdn,
        fee=format_money(fee, user.currency), ref=ref)


def received_text(user, amount: int, sender, ref: int) -> str:
    return _("Enerlectra: you received {amount} from {name} {number}. Ref {ref}.").format(
        amount=format_money(amount, user.currency), name=sender.name, number=sender.msisdn, ref=ref)


def credit_text(user, amount: int, asset: str, ref: int) -> str:
    """An operator's credit (money, or kWh for pilots without meters)."""
    if asset == ENERGY:
        return _("Enerlectra: we added {energy} to your energy. Ref C{ref}.").format(
            energy=format_energy(amount), ref=ref)
    return _("Enerlectra: we added {amount} to your wallet. Ref C{ref}.").format(
        amount=format_money(amount, asset), ref=ref)


def meter_text(user, receipt) -> str:
    return _("Enerlectra: meter {serial} credited {energy} ({today} today), used {used}. Your energy: "
             "{balance}.").format(serial=receipt.serial, energy=format_energy(receipt.credited_wh),
                                  today=format_energy(receipt.today_wh), used=format_energy(receipt.debited_wh),
                                  balance=format_energy(receipt.balance_wh))


def meter_receipt(user, receipt) -> str:
    """meter_text in the owner's language (a meter's reading arrives in no one's language)."""
    return in_language_of(user, meter_text, receipt)
