"""The fit floor: below it an account is a poor fit for a request, whatever its score.

An account in a pool tagged with the request's vertical (``ranking.fits``) is still a
poor fit when its pool's language is not the one asked (``ranking.language_points`` gives
it nothing: not the tag, not its primary subtag), or when none of its followers are in
the countries asked. Assigning a poor fit needs the caller's explicit consent
(``allocation_assign(..., allow_poor_fit=True)``); the Allocate page and the home panel
read the same two rules from here.
"""

from django.db.models import Count, Q

from .models import AccountState, SocialAccount
from .ranking import fitting_pools, language_points


def language_fits(pool_language: str, wanted: str) -> bool:
    """The pool speaks the language asked (or its primary subtag), or none was asked."""
    return language_points(pool_language or "", wanted or "")[0] > 0


def geo_fits(follower_geos, wanted_geos) -> bool:
    """The account has followers in at least one asked country, or none was asked."""
    wanted = {str(code).upper() for code in wanted_geos or []}
    return not wanted or bool(wanted & {str(code).upper() for code in follower_geos or []})


def fit_gaps(*, pool_language: str, follower_geos, lease_request) -> list[str]:
    """What makes an account a poor fit for ``lease_request``: [] when it fits."""
    gaps = []
    if not language_fits(pool_language, lease_request.language):
        gaps.append(f"language {pool_language or 'unset'}, asked {lease_request.language}")
    if not geo_fits(follower_geos, lease_request.geo):
        asked = ", ".join(sorted({str(code).upper() for code in lease_request.geo}))
        gaps.append(f"no followers in {asked}")
    return gaps


def followers_fit(lease_request) -> Q:
    """Accounts with followers in at least one asked country (all, when none is asked)."""
    anywhere = Q()
    for code in sorted({str(code).upper() for code in lease_request.geo or []}):
        anywhere |= Q(follower_geos__contains=[code])
    return anywhere


def speaking_pools(lease_request, pools: dict) -> dict:
    """Those of ``pools`` whose language fits the request's."""
    return {
        pk: pool
        for pk, pool in pools.items()
        if language_fits(pool.language, lease_request.language)
    }


def supply_counts(lease_request) -> tuple[int, int]:
    """(ready accounts tagged with the request's vertical, those of them that fit its
    language and geo): one scan of the vertical's ready accounts, two counts."""
    pools = fitting_pools(lease_request)
    if not pools:
        return 0, 0
    fit = Q(pool_id__in=list(speaking_pools(lease_request, pools))) & followers_fit(lease_request)
    counts = SocialAccount.objects.filter(
        state=AccountState.READY, pool_id__in=list(pools)
    ).aggregate(ready=Count("pk"), fitting=Count("pk", filter=fit))
    return counts["ready"], counts["fitting"]
