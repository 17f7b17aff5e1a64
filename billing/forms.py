import datetime
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import NON_FIELD_ERRORS

from layers_ops.dates import FIRST_TYPED_DATE, LAST_TYPED_DATE
from layers_ops.grammar import AmountField
from layers_ops.partners.models import Organization

from .models import LedgerTransaction
from .money import dollars
from .selectors import FINANCE_TZ

AMOUNT = {"label": "Amount (USD)", "max_digits": 12, "decimal_places": 2}


def _reason_field(help_text: str) -> forms.CharField:
    return forms.CharField(
        label="Internal reason (staff only)",
        max_length=500,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text=help_text + " Staff only: the partner never sees it.",
    )


def _description_field(initial: str, when_empty: str) -> forms.CharField:
    """What the partner reads for the movement, prefilled with a neutral text."""
    return forms.CharField(
        label="Partner sees",
        max_length=500,
        required=False,
        initial=initial,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="The partner reads this, word for word, in their API ledger and "
        f"statements. Left empty: {when_empty}.",
    )


class MoneyMovementForm(forms.Form):
    """What finance records for any organization: money received (top-up) or a
    correction (adjustment). Both need a reason."""

    required_css_class = "required"

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
    amount = AmountField(
        **AMOUNT, help_text="A top-up is positive. An adjustment may be negative (a debit)."
    )
    memo = forms.CharField(
        label="Internal reason (staff only)",
        max_length=500,
        help_text="Why. Shown to staff in the ledger; the partner never sees it.",
    )
    description = _description_field(
        "", "'Wallet top-up' for a top-up, 'Account credit' or 'Account debit' for an adjustment"
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
        return cleaned

    @property
    def amount_cents(self) -> int:
        return int(self.cleaned_data["amount"] * Decimal(100))


class TopUpForm(forms.Form):
    """Money received from the partner, into one wallet."""

    required_css_class = "required"

    amount = AmountField(**AMOUNT, min_value=Decimal("0.01"))
    reason = _reason_field("Why, e.g. 'Wire received 2026-11-24'. Shown in the ledger.")
    description = _description_field("Wallet top-up", "'Wallet top-up'")
    reference = forms.CharField(
        max_length=100, required=False, help_text="The wire or invoice number."
    )

    @property
    def amount_cents(self) -> int:
        return int(self.cleaned_data["amount"] * Decimal(100))


class AdjustmentForm(forms.Form):
    """A correction to one wallet, up (credit) or down (debit)."""

    required_css_class = "required"

    amount = AmountField(
        **AMOUNT, help_text="Positive credits the wallet; negative (e.g. -25.00) debits it."
    )
    reason = _reason_field("Why the wallet is corrected. Shown in the ledger.")
    description = _description_field(
        "Account adjustment", "'Account credit' or 'Account debit', by the amount's sign"
    )
    reference = forms.CharField(max_length=100, required=False, help_text="E.g. a ticket number.")

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("Enter an amount other than zero.")
        return amount

    @property
    def amount_cents(self) -> int:
        return int(self.cleaned_data["amount"] * Decimal(100))


class ChargeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, txn):
        refunded = " (already refunded)" if txn.is_reversed else ""
        return (
            f"{txn.created_at.astimezone(FINANCE_TZ):%Y-%m-%d} · {txn.get_kind_display()} · "
            f"{dollars(-txn.wallet_cents)} · {txn.memo} · {txn.pk}{refunded}"
        )


class ChargeSearch(AutocompleteSelect):
    """A select2 search box (the admin's own autocomplete) that asks ``url`` for
    charges, so the page never lists every charge of a wallet."""

    def __init__(self, url: str, attrs=None):
        reverses = LedgerTransaction._meta.get_field("reverses")
        super().__init__(reverses, admin.site, attrs={"style": "width: 760px", **(attrs or {})})
        self.url = url

    def get_url(self):
        return self.url


class RefundForm(forms.Form):
    """Give back a charge or renewal: its reversal, chosen by searching the wallet's
    charges not yet refunded."""

    required_css_class = "required"

    charge = ChargeChoiceField(
        queryset=LedgerTransaction.objects.none(),
        help_text="Type a handle (e.g. @brew), a request or account id, or a transaction "
        "id: this wallet's charges and renewals not yet refunded, newest first.",
    )
    reason = _reason_field("Why the partner gets this back. Shown in the ledger.")
    description = _description_field("", "'Refund: ' and what the partner saw for the charge")

    def __init__(self, *args, charges, search_url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["charge"].queryset = charges
        self.fields["charge"].widget = ChargeSearch(search_url)
        self.fields["charge"].widget.choices = self.fields["charge"].choices
        self.fields["charge"].widget.is_required = True


class VoidForm(forms.Form):
    """Void a mistaken top-up: its reversal, linked to it."""

    required_css_class = "required"

    reason = _reason_field("Why the top-up is voided, e.g. 'Entered $10,500 for $105'.")
    description = _description_field("Top-up voided", "'Top-up voided'")


class LedgerDatesForm(forms.Form):
    """The ledger's date filter: Los Angeles dates, both included, either may be empty.

    Bound to the query string. Dates are YYYY-MM-DD within ``layers_ops.dates``'
    FIRST_TYPED_DATE..LAST_TYPED_DATE; ``problems()`` says what is wrong, for a person."""

    created_from = forms.CharField(required=False, label="From")
    created_to = forms.CharField(required=False, label="To")

    def _date(self, name: str, empty_means: str) -> datetime.date | None:
        raw = self.cleaned_data[name].strip()
        if not raw:
            return None
        shown = raw if len(raw) <= 24 else raw[:23] + "…"
        try:
            day = datetime.datetime.strptime(raw, "%Y-%m-%d").date()
        except ValueError:
            day = None
        if day is None:
            raise forms.ValidationError(f"“{shown}” is not a date; type it as YYYY-MM-DD.")
        if not FIRST_TYPED_DATE <= day <= LAST_TYPED_DATE:
            raise forms.ValidationError(
                f"{day} is outside the dates the ledger can filter on ({FIRST_TYPED_DATE} "
                f"to {LAST_TYPED_DATE}); leave it empty for {empty_means}."
            )
        return day

    def clean_created_from(self):
        return self._date("created_from", "no start")

    def clean_created_to(self):
        return self._date("created_to", "no end")

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("created_from"), cleaned.get("created_to")
        if start and end and start > end:
            raise forms.ValidationError(f"From ({start}) is after To ({end}); swap them.")
        return cleaned

    def problems(self) -> str:
        """Every problem on one line: "To: … From: …"; empty when the dates are fine."""
        if self.is_valid():
            return ""
        parts = [
            f"{self.fields[name].label}: {' '.join(errors)}"
            for name, errors in self.errors.items()
            if name != NON_FIELD_ERRORS
        ]
        return " ".join([*parts, *self.non_field_errors()])

    def bounds(self, tz) -> tuple[datetime.datetime | None, datetime.datetime | None]:
        """[start, end) as aware datetimes in ``tz``: From's midnight to the midnight
        after To. Only for a valid form."""
        start, end = self.cleaned_data["created_from"], self.cleaned_data["created_to"]
        midnight = datetime.time()
        return (
            datetime.datetime.combine(start, midnight, tz) if start else None,
            datetime.datetime.combine(end + datetime.timedelta(days=1), midnight, tz)
            if end
            else None,
        )
