class PublicIdConverter:
    """Ids in URLs: ``prj_…``, ``lreq_…`` or a partner's own (letters, digits, _ and -).

    Anything else never reaches a view or the database; the catch-all answers 404.
    """

    regex = r"[A-Za-z0-9_-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
