"""The one way the service writes CSV: cells a spreadsheet would run are neutralised.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a
formula to Excel, LibreOffice and Google Sheets (CSV injection), so it is written with a
leading apostrophe, which they show as text. Numbers are written as numbers. Every
export (ledger, statements, intake reports) goes through ``csv_response`` or
``safe_writer``; the response streams, so a large export never sits in memory (under
WSGI and ASGI alike).
"""

import csv
from collections.abc import Iterable
from decimal import Decimal
from itertools import islice

from asgiref.sync import sync_to_async
from django.http import StreamingHttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    text = str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


class _SafeWriter:
    def __init__(self, writer):
        self._writer = writer

    def writerow(self, row: Iterable):
        return self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable]):
        for row in rows:
            self.writerow(row)


def safe_writer(stream) -> _SafeWriter:
    """A ``csv.writer`` over ``stream`` whose rows are neutralised cell by cell."""
    return _SafeWriter(csv.writer(stream))


class _Echo:
    """A file-like object that hands back what is written, for streaming."""

    def write(self, value):
        return value


def csv_rows(header: Iterable, rows: Iterable[Iterable]) -> Iterable[str]:
    """The CSV text of ``header`` then ``rows``, one line at a time."""
    writer = safe_writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


# Lines handed to the ASGI server at a time.
ASGI_BATCH = 500


class CsvStreamingResponse(StreamingHttpResponse):
    """Streams under ASGI too: Django's ASGI handler would read a sync iterator whole into
    memory before sending a byte; this one is read in batches in the request's thread (the
    thread its database cursor lives in)."""

    async def __aiter__(self):
        lines = iter(self.streaming_content)
        next_batch = sync_to_async(lambda: list(islice(lines, ASGI_BATCH)), thread_sensitive=True)
        while batch := await next_batch():
            yield b"".join(batch)


def csv_response(filename: str, header: Iterable, rows: Iterable[Iterable]):
    """A streamed CSV download; ``rows`` is consumed lazily (pass a generator)."""
    response = CsvStreamingResponse(csv_rows(header, rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
