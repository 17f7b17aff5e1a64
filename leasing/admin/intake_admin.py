"""The admin's CSV intake of warmed accounts: upload and preview, then confirm.

django-import-export provides the URLs, the button on the account list and the page
layout; the two steps are ours, so that:

* an upload over ``INTAKE_MAX_UPLOAD_MB`` is refused before it is read
  (``leasing.intake_uploads.IntakeUploadLimit``), with a message;
* the preview streams the uploaded file through ``leasing.intake.accounts_import``
  (dry run), the command's service, so both refuse the same rows;
* only a preview that can be confirmed keeps the file, under a random token held in the
  user's session with the options previewed (``intake_upload_keep``); confirming takes
  it back once (``intake_upload_claim``), imports exactly what was previewed and deletes
  the file whatever happens;
* the confirm form carries a one-time token (``layers_ops.staff.once``) that the import
  spends in its transaction (the preview spends none), so a second confirm of the same
  page says what the first one imported, when and by whom.
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST
from import_export import fields, resources
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV

from layers_ops.csv_export import csv_response
from layers_ops.staff.once import ONCE_FIELD, AlreadyDone, OnceRefused, once_check

from ..intake import accounts_import
from ..intake_parsing import IntakeError, rows_iter
from ..intake_uploads import (
    intake_upload_claim,
    intake_upload_keep,
    intake_uploads_purge,
    upload_lines,
    upload_refusal,
)
from ..models import AccountImport, Pool
from .inventory_forms import AccountImportForm

LISTED = 100  # added and updated rows the preview lists


class IntakeCSV(CSV):
    """The one format the import form offers (read by ``leasing.intake.rows_iter``)."""

    def get_title(self):
        return "csv"

    def can_import(self):
        return True

    def can_export(self):
        return False


class AccountIntakeResource(resources.Resource):
    """Names the file's columns for the import form; the rows go to ``accounts_import``."""

    handle = fields.Field(attribute="handle", column_name="handle")
    followers = fields.Field(attribute="followers", column_name="followers")
    geo = fields.Field(attribute="geo", column_name="geo")

    @classmethod
    def get_display_name(cls):
        return "Warmed accounts (handle, followers, geo)"


class IntakeConfirmForm(forms.Form):
    """The confirm step carries only the opaque token of the kept upload."""

    upload = forms.CharField(widget=forms.HiddenInput, max_length=64)


class AccountIntakeAdminMixin(ImportMixin):
    formats = [IntakeCSV]
    resource_classes = [AccountIntakeResource]
    import_form_class = AccountImportForm
    import_template_name = "admin/leasing/socialaccount/import.html"
    import_export_change_list_template = "admin/leasing/socialaccount/change_list.html"
    skip_admin_log = True  # the import is logged once, as an AccountImport, not per row

    def has_import_permission(self, request):
        """Ops (who may add and change accounts) and superusers; not Finance."""
        return request.user.has_perms(["leasing.add_socialaccount", "leasing.change_socialaccount"])

    def _import_page(self, request, **context):
        return TemplateResponse(
            request,
            self.import_template_name,
            {
                **self.admin_site.each_context(request),
                "title": "Import warmed accounts from CSV",
                "opts": self.opts,
                "pool_names": Pool.objects.order_by("name").values_list("name", flat=True),
                "max_upload_mb": settings.INTAKE_MAX_UPLOAD_MB,
                **context,
            },
        )

    def import_action(self, request, **kwargs):
        """Step 1: the form, then the preview of an uploaded file (nothing written)."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        if request.method == "POST" and (refusal := upload_refusal(request)):
            self.message_user(request, refusal, messages.ERROR)
            return self._import_page(request, form=self.create_import_form_unbound(request))
        form = self.create_import_form(request)
        context = {"form": form, "media": self.media + form.media}
        if request.method != "POST" or not form.is_valid():
            return self._import_page(request, **context)
        uploaded = form.cleaned_data["import_file"]
        options = form.intake_options()
        intake_uploads_purge()  # abandoned previews of anyone, past their TTL
        try:
            with upload_lines(uploaded) as lines:
                report = accounts_import(
                    rows=rows_iter(lines),
                    dry_run=True,
                    actor=request.user,
                    file_name=uploaded.name,
                    listed=LISTED,
                    **options,
                )
        except IntakeError as exc:
            return self._import_page(request, error=str(exc), **context)
        context["report"] = report
        if report.importable and not report.refused_whole_file:
            token = intake_upload_keep(
                session=request.session, user=request.user, uploaded=uploaded, options=options
            )
            context["confirm_form"] = IntakeConfirmForm(initial={"upload": token})
        return self._import_page(request, **context)

    def create_import_form_unbound(self, request):
        form_class = self.get_import_form_class(request)
        return form_class(self.get_import_formats(), self.get_import_resource_classes(request))

    @method_decorator(require_POST)
    def process_import(self, request, **kwargs):
        """Step 2: import the previewed upload of this user's session, once."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        upload = intake_upload_claim(
            session=request.session, user=request.user, token=request.POST.get("upload", "")
        )
        once = request.POST.get(ONCE_FIELD, "")
        if upload is None:
            try:
                once_check(once, user=request.user)
            except AlreadyDone as exc:  # confirmed twice: say what the first confirm did
                self.message_user(request, str(exc), messages.WARNING)
                return HttpResponseRedirect(reverse("admin:leasing_socialaccount_changelist"))
            except OnceRefused:
                pass
            return self._back_to_upload(
                request,
                "This preview was already imported, has expired or is not yours: nothing was "
                "imported. Upload the file again.",
            )
        try:
            with upload.lines() as lines:
                report = accounts_import(
                    rows=rows_iter(lines),
                    actor=request.user,
                    file_name=upload.file_name,
                    listed=0,
                    once=once,
                    **upload.options,
                )
        except AlreadyDone as exc:
            self.message_user(request, str(exc), messages.WARNING)
            return HttpResponseRedirect(reverse("admin:leasing_socialaccount_changelist"))
        except (IntakeError, OnceRefused) as exc:
            return self._back_to_upload(request, f"Nothing was imported: {exc}")
        finally:
            upload.delete()
        if not report.written:
            return self._back_to_upload(request, "Nothing was imported: some rows were refused.")
        record = report.record
        self.log_change(request, record.pool, f"Imported accounts (import {record.pk})")
        self.message_user(
            request,
            f"Imported into {record.pool}: {record.added:,} added, {record.updated:,} "
            f"updated, {record.refused_count:,} refused.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(
            reverse("admin:leasing_socialaccount_import_result", args=[record.pk])
        )

    def _back_to_upload(self, request, message):
        self.message_user(request, message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:leasing_socialaccount_import"))

    def get_urls(self):
        return [
            path(
                "import/<int:pk>/",
                self.admin_site.admin_view(self.import_result_view),
                name="leasing_socialaccount_import_result",
            ),
            path(
                "import/<int:pk>/refused.csv",
                self.admin_site.admin_view(self.import_refused_csv_view),
                name="leasing_socialaccount_import_refused",
            ),
            *super().get_urls(),
        ]

    def import_result_view(self, request, pk):
        if not self.has_import_permission(request):
            raise PermissionDenied
        record = get_object_or_404(AccountImport.objects.select_related("pool"), pk=pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Import {record.pk} into {record.pool}",
            "opts": self.opts,
            "record": record,
            "refused": record.refused[:500],
        }
        return TemplateResponse(request, "admin/leasing/socialaccount/import_result.html", context)

    def import_refused_csv_view(self, request, pk):
        """The refused rows of an import (line, handle, reason), as a spreadsheet reads."""
        if not self.has_import_permission(request):
            raise PermissionDenied
        record = get_object_or_404(AccountImport, pk=pk)
        stamp = timezone.localtime(record.created_at).strftime("%Y%m%d-%H%M")
        return csv_response(
            f"import-{record.pk}-refused-{stamp}.csv",
            ["line", "handle", "reason"],
            (tuple(row) for row in record.refused),
        )
