from django.utils.http import parse_header_parameters
from rest_framework.negotiation import DefaultContentNegotiation

ACCEPTED_CHARSETS = frozenset({"utf-8", "utf8"})


class JSONOnlyNegotiation(DefaultContentNegotiation):
    """JSON in, JSON out.

    A body is read only when its ``Content-Type`` is exactly ``application/json``, with no
    charset or a UTF-8 one: wildcards (``*/*``, ``application/*``) and other charsets are
    415. Answers are always JSON, whatever ``Accept`` says: errors must stay in the envelope.
    """

    def select_parser(self, request, parsers):
        content_type = request.content_type or ""
        if len(content_type) > self.max_media_type_length:
            return None
        media_type, params = parse_header_parameters(content_type)
        charset = params.get("charset")
        if charset is not None and charset.strip().lower() not in ACCEPTED_CHARSETS:
            return None
        for parser in parsers:
            if media_type == parser.media_type:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type
