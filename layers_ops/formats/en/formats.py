"""The one date format of the consoles (``FORMAT_MODULE_PATH``): every date Django
renders itself (read-only fields, lists, filters) reads as ``2026-11-30`` and
``2026-11-30 09:15``, the same as ``layers_ops.admin_display.local_time``."""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "F j"
YEAR_MONTH_FORMAT = "F Y"
