"""django-import-export glue for the account intake: it reads the file the way the command
does and hands the rows to ``leasing.intake.accounts_import``, the one place intake rules
live. The admin's preview is that service's dry run; confirming runs it for real.
"""

import tablib
from import_export import fields, resources
from import_export.formats.base_formats import CSV
from import_export.results import Result

from ..intake import IntakeError, IntakeRow, accounts_import, rows_read

DATASET_HEADERS = ["line", "handle", "followers", "geo", "extra_cells"]


class IntakeCSV(CSV):
    """CSV read by ``leasing.intake.rows_read``: header required, empty lines ignored, BOM
    and CRLF tolerated, and each row keeps its line number for the report."""

    def get_title(self):
        return "csv"

    def can_import(self):
        return True

    def can_export(self):
        return False

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            in_stream = in_stream.decode("utf-8-sig")
        dataset = tablib.Dataset(headers=DATASET_HEADERS)
        for row in rows_read(in_stream):
            dataset.append([row.line, row.handle, row.followers, row.geo, row.extra_cells])
        return dataset


class IntakeResult(Result):
    """An import_export Result carrying the intake service's ImportReport.

    Refused rows count as validation errors only when they stop the import (no "skip
    refused rows"), so the admin offers to confirm exactly when the service would write.
    """

    def __init__(self, *, report=None, error: str = ""):
        super().__init__()
        self.report, self.error = report, error

    def has_errors(self):
        return bool(self.error)

    def has_validation_errors(self):
        return self.report is not None and self.report.refused_whole_file


class AccountIntakeResource(resources.Resource):
    handle = fields.Field(attribute="handle", column_name="handle")
    followers = fields.Field(attribute="followers", column_name="followers")
    geo = fields.Field(attribute="geo", column_name="geo")

    @classmethod
    def get_display_name(cls):
        return "Warmed accounts (handle, followers, geo)"

    def import_data(self, dataset, dry_run=False, raise_errors=False, **kwargs):
        rows = [
            IntakeRow(
                line=int(line),
                handle=handle,
                followers=followers,
                geo=geo,
                extra_cells=bool(extra),
            )
            for line, handle, followers, geo, extra in dataset
        ]
        options = {
            key: kwargs[key]
            for key in ("pool_name", "verticals", "language", "geos", "state", "skip_invalid")
        }
        try:
            report = accounts_import(
                rows=rows,
                actor=kwargs.get("user"),
                file_name=kwargs.get("file_name") or "",
                dry_run=dry_run,
                once=None if dry_run else kwargs.get("once", ""),
                **options,
            )
        except IntakeError as exc:
            return IntakeResult(error=str(exc))
        return IntakeResult(report=report)
