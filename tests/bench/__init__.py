"""Load benchmark of the partner API's write path; run it with ``make bench``."""
