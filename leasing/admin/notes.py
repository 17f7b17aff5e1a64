"""Notes on a lease request: the inline on its page and the one rule for a note's body
(``request_note_add`` writes each; the page's one-time token spends once per note)."""

from django import forms
from django.contrib import admin

from layers_ops.staff.once import ONCE_FIELD

from ..models import (
    NOTE_MAX_LENGTH,
    RequestNote,
)
from ..services.requests import request_note_add
from ..validators import InvalidValue, note_body_clean

NOTE_HELP = f"At most {NOTE_MAX_LENGTH:,} characters; a longer note is refused, never cut."


def note_checked(text: str) -> str:
    try:
        return note_body_clean(text)
    except InvalidValue as exc:
        raise forms.ValidationError(str(exc)) from None


def note_box(rows: int) -> forms.Textarea:
    # No maxlength attribute: a browser would silently cut a longer paste at the limit.
    return forms.Textarea(attrs={"rows": rows, "cols": 80})


class RequestNoteForm(forms.ModelForm):
    class Meta:
        model = RequestNote
        fields = ["body", "visibility"]
        widgets = {"body": note_box(3)}
        help_texts = {"body": NOTE_HELP}

    def clean_body(self):
        return note_checked(self.cleaned_data["body"])


class RequestNoteInline(admin.TabularInline):
    """Notes are added, never edited: a correction is a new note."""

    model = RequestNote
    form = RequestNoteForm
    fields = ["body", "visibility", "written_by", "created_at"]
    readonly_fields = ["written_by", "created_at"]
    extra = 1

    @admin.display(description="author")
    def written_by(self, obj):
        return obj.author_name if obj.pk else ""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


class RequestNotesMixin:
    """The request page saves nothing but its new notes."""

    def save_model(self, request, obj, form, change):
        pass  # every field is read-only: only the notes inline saves anything

    def save_formset(self, request, form, formset, change):
        # Notes go through the service (author and time recorded, never edited), each
        # spending the page's one-time token once: a second Save of the page writes none.
        formset.new_objects = [
            request_note_add(
                lease_request=form.instance,
                body=note_form.cleaned_data["body"],
                visibility=note_form.cleaned_data["visibility"],
                author=request.user,
                once=request.POST.get(ONCE_FIELD, ""),
                once_part=f"note:{index}",
            )
            for index, note_form in enumerate(formset.forms)
            if note_form.has_changed() and not note_form.instance.pk
        ]
        formset.changed_objects, formset.deleted_objects = [], []
