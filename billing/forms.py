from decimal import Decimal

from django import forms

from layers_ops.partners.models import Organization


class MoneyMovementForm(forms.Form):
    """What finance records: money received (top-up) or a correction (adjustment)."""

    TOP_UP = "top_up"
    ADJUSTMENT = "adjustment"

    organization = forms.ModelChoiceField(queryset=Organization.objects.order_by("name"))
    kind = forms.ChoiceField(
        choices=[
            (TOP_UP, "Top-up: money received from the partner"),
            (ADJUSTMENT, "Adjustment: a correction, up or down"),
        ],
        widget=forms.RadioSelect,
        initial=TOP_UP,
    )
    amount = forms.DecimalField(
        label="Amount (USD)",
        max_digits=12,
        decimal_places=2,
        help_text="A top-up is positive. An adjustment may be negative (a debit).",
    )
    memo = forms.CharField(
        max_length=500,
        required=False,
        help_text="Why. Required for adjustments; shown in the ledger.",
    )
    reference = forms.CharField(
        max_length=100, required=False, help_text="E.g. the wire or invoice number."
    )

    def clean(self):
        cleaned = super().clean()
        amount, kind = cleaned.get("amount"), cleaned.get("kind")
        if amount is None or kind is None:
            return cleaned
        if amount == 0:
            self.add_error("amount", "Enter an amount other than zero.")
        elif kind == self.TOP_UP and amount < 0:
            self.add_error("amount", "A top-up is positive; record a debit as an adjustment.")
        if kind == self.ADJUSTMENT and not cleaned.get("memo", "").strip():
            self.add_error("memo", "Say why: an adjustment needs a memo.")
        return cleaned

    @property
    def amount_cents(self) -> int:
        return int(self.cleaned_data["amount"] * Decimal(100))
