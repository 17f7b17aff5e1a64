from rest_framework.renderers import JSONRenderer as DRFJSONRenderer


class JSONRenderer(DRFJSONRenderer):
    """UTF-8 JSON that never fails to encode.

    A partner's text echoed in an error (a bad country code, an unknown field's name) may
    hold a lone UTF-16 surrogate, which UTF-8 cannot carry. Such a body is rendered with
    ASCII escapes instead (``"\\ud800"``), still valid JSON, rather than answering 500.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            return _AsciiJSONRenderer().render(data, accepted_media_type, renderer_context)


class _AsciiJSONRenderer(DRFJSONRenderer):
    ensure_ascii = True
