"""The refusals every billing service shares; each message is safe to show to staff."""

from ..money import dollars


class BillingError(Exception):
    """A money rule was broken; the message is safe to show to staff."""


class InsufficientFunds(BillingError):
    def __init__(self, *, balance_cents: int, needed_cents: int):
        self.balance_cents = balance_cents
        self.needed_cents = needed_cents
        self.shortfall_cents = needed_cents - balance_cents
        super().__init__(
            f"The wallet holds {balance_cents / 100:,.2f} USD and this needs "
            f"{needed_cents / 100:,.2f} USD ({self.shortfall_cents / 100:,.2f} USD short)."
        )


class TopUpSpent(InsufficientFunds):
    """A top-up cannot be voided once the wallet no longer holds its money."""

    def __init__(self, *, balance_cents: int, needed_cents: int):
        super().__init__(balance_cents=balance_cents, needed_cents=needed_cents)
        self.args = (
            f"The wallet holds {dollars(balance_cents)}, less than this top-up of "
            f"{dollars(needed_cents)}: part of it was already spent, so it cannot be voided. "
            "Nothing was changed; record an adjustment for what can be taken back.",
        )


class AlreadyReversed(BillingError):
    pass


class AmountOverCeiling(BillingError):
    def __init__(self, *, amount_cents: int, ceiling_cents: int):
        self.amount_cents = amount_cents
        self.ceiling_cents = ceiling_cents
        super().__init__(
            f"{dollars(amount_cents)} is more than one money movement may be: at most "
            f"{dollars(ceiling_cents)} (MONEY_MOVEMENT_MAX_CENTS). Check the amount; split a "
            "real one this large into several."
        )
