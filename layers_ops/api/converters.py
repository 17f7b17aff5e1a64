class PublicIdConverter:
    """Ids in URLs: ``prj_…``, ``lreq_…`` or a partner's own (letters, digits, _ and -).

    Anything else never reaches a view or the database; the catch-all answers 404.
    """

    regex = r"[A-Za-z0-9_-]{1,64}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class SocialAccountIdConverter(PublicIdConverter):
    """A social account's id, ``sa_`` and a ULID: so ``/v1/leased-accounts/requests``
    and other words never reach the account view (they are 404, not 405)."""

    regex = r"sa_[0-9A-Za-z]{26}"
