"""Forms of the inventory admin: lists typed as text, checked by the shared validators."""

from django import forms
from import_export.forms import ImportForm

from ..intake_parsing import IntakeError, RowRefused, handle_clean, pool_options_clean
from ..intake_uploads import max_upload_bytes, too_large_message
from ..models import AccountState, Pool, SocialAccount
from ..validators import InvalidValue, country_codes_parse, language_tag_check, tags_parse

TAGS_HELP = "Verticals, separated by commas: coffee, food, mobile games. Stored lower-case."
GEOS_HELP = "ISO 3166-1 alpha-2 country codes, separated by spaces or commas: US CA GB."
LANGUAGE_HELP = "A BCP-47 language tag: en, pt-BR, zh-Hant-TW."


def _checked(parse, value):
    try:
        return parse(value)
    except InvalidValue as exc:
        raise forms.ValidationError(str(exc)) from None


class ListAsTextField(forms.CharField):
    """A JSON list edited as text: shown as ``"US CA"``, cleaned by ``parse``."""

    def __init__(self, *, parse, separator: str, **kwargs):
        self.parse, self.separator = parse, separator
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return self.separator.join(str(item) for item in value)
        return value

    def to_python(self, value):
        return _checked(self.parse, super().to_python(value))

    def has_changed(self, initial, data):
        return self.prepare_value(initial or []) != self.prepare_value(self.to_python(data))


class PoolForm(forms.ModelForm):
    tags = ListAsTextField(
        parse=tags_parse, separator=", ", required=False, label="Verticals", help_text=TAGS_HELP
    )
    geos = ListAsTextField(
        parse=country_codes_parse, separator=" ", required=False, help_text=GEOS_HELP
    )

    class Meta:
        model = Pool
        fields = ["name", "tags", "language", "geos", "notes"]
        help_texts = {"language": LANGUAGE_HELP}

    def clean_tags(self):
        tags = self.cleaned_data["tags"]
        if not tags:
            raise forms.ValidationError("Give at least one vertical: requests are matched on it.")
        return tags

    def clean_language(self):
        language = self.cleaned_data["language"].strip()
        return _checked(language_tag_check, language) if language else ""


class SocialAccountForm(forms.ModelForm):
    follower_geos = ListAsTextField(
        parse=country_codes_parse,
        separator=" ",
        required=False,
        label="Follower geos",
        help_text="Countries most followers are in: " + GEOS_HELP,
    )

    class Meta:
        model = SocialAccount
        fields = ["handle", "pool", "followers", "follower_geos", "warmed_since"]
        help_texts = {
            "handle": "The TikTok handle without @: 2-24 letters, digits, _ or . (stored "
            "lower-case).",
        }

    def clean_handle(self):
        try:
            handle = handle_clean(self.cleaned_data["handle"])
        except RowRefused as exc:
            raise forms.ValidationError(str(exc).capitalize() + ".") from None
        taken = SocialAccount.objects.filter(platform="tiktok", handle=handle)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise forms.ValidationError(f"@{handle} is already in the inventory.")
        return handle

    def clean_pool(self):
        pool = self.cleaned_data["pool"]
        moving = self.instance.pk and self.instance.pool_id != pool.pk
        if moving and self.instance.state in (AccountState.LEASED, AccountState.RETIRED):
            raise forms.ValidationError(
                f"A {self.instance.get_state_display().lower()} account stays in its pool."
            )
        return pool


class MoveForm(forms.Form):
    """The reason asked for on an account action's intermediate page."""

    reason = forms.CharField(
        max_length=200,
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
        help_text="Kept in each account's history, with your name and the time.",
    )


class IntakeOptionsForm(forms.Form):
    """The pool and state the imported accounts go into (shared by both import steps)."""

    pool = forms.CharField(
        max_length=120,
        help_text="An existing pool's name, or a new one (then give its verticals).",
        widget=forms.TextInput(attrs={"list": "intake-pools", "size": 40}),
    )
    verticals = forms.CharField(
        required=False,
        help_text=TAGS_HELP + " Blank keeps an existing pool's verticals.",
        widget=forms.TextInput(attrs={"size": 40}),
    )
    language = forms.CharField(
        required=False, max_length=35, help_text=LANGUAGE_HELP + " Blank keeps the pool's."
    )
    geos = forms.CharField(
        required=False,
        label="Pool geos",
        help_text=GEOS_HELP + " Blank keeps the pool's.",
        widget=forms.TextInput(attrs={"size": 40}),
    )
    state = forms.ChoiceField(
        choices=[(AccountState.READY, "Ready"), (AccountState.WARMING, "Warming")],
        initial=AccountState.READY,
        help_text="State of the new accounts. Accounts already known keep their state.",
    )
    skip_invalid = forms.BooleanField(
        required=False,
        label="Skip refused rows",
        help_text="Import the good rows and report the refused ones. Unticked, any refused "
        "row stops the whole import.",
    )

    OPTION_FIELDS = ["pool", "verticals", "language", "geos", "state", "skip_invalid"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            options = pool_options_clean(
                pool_name=data["pool"],
                verticals=data["verticals"] or None,
                language=data["language"],
                geos=data["geos"] or None,
            )
        except IntakeError as exc:
            raise forms.ValidationError(str(exc)) from None
        if not options.verticals and not Pool.objects.filter(name=options.name).exists():
            self.add_error(
                "verticals", f"Pool {options.name!r} is new: give its verticals (e.g. coffee)."
            )
        data["pool"] = options.name
        return data

    def intake_options(self) -> dict:
        data = self.cleaned_data
        return {
            "pool_name": data["pool"],
            "verticals": data["verticals"] or None,
            "language": data["language"] or None,
            "geos": data["geos"] or None,
            "state": data["state"],
            "skip_invalid": data["skip_invalid"],
        }


class AccountImportForm(IntakeOptionsForm, ImportForm):
    field_order = ["import_file", "pool", "verticals", "language", "geos", "state"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["import_file"].label = "CSV file"
        self.fields["import_file"].help_text = (
            "Columns handle,followers[,geo] with a header row; geo as US|CA. Handles may "
            f"start with @. At most {max_upload_bytes() // (1024 * 1024)} MB."
        )

    def clean_import_file(self):
        """The size first, before anything reads the file (the upload handler normally
        stopped a larger one already)."""
        uploaded = self.cleaned_data["import_file"]
        if uploaded.size > max_upload_bytes():
            raise forms.ValidationError(too_large_message(uploaded.size))
        return uploaded
