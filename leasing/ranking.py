"""Ranking ready accounts for a request: which fit, and how well, with the reason why.

Hard filter: the account is ``ready`` and its pool is tagged with the request's vertical
(``fits``). Among those, a score out of 100:

* language, up to 40: the pool's language is the one asked (40), or shares its primary
  subtag (``pt-PT`` for ``pt-BR``: 25); no language asked scores 40 everywhere;
* follower geos, up to 40: the share of the request's countries the account has
  followers in (``geo`` empty scores 40 everywhere);
* followers, up to 20: one point per 5,000 followers, capped at 100,000.

Pools are few, so the pool-level part (vertical, language) is decided in Python and
handed to the database as a CASE over pool ids; the account-level part (geo overlap,
followers) is computed in SQL. Geo overlap tests JSON list membership with jsonb ``@>``.

Scoring every ready account to keep the best 50 costs time in proportion to the pool
(100,000 accounts: ~140 ms on PostgreSQL). Instead ``top_accounts`` splits the supply
into classes (pool x how many of the asked countries matched): inside a class the score
only grows with followers, so the database walks the partial index
``social_account_ready_followers`` (pool, followers desc, id; ready only) and stops at
``limit`` rows, or at the followers below which nothing can reach the current top
``limit``. The result is exactly the full ordering's top ``limit``; a class with no
member at all is the slow case (the walk reads the pool), as a full scan would.
"""

from dataclasses import dataclass

from django.db.models import (
    BooleanField,
    Case,
    F,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Least

from .models import AccountState, LeaseRequest, Pool, SocialAccount
from .validators import vertical_key

LANGUAGE_POINTS = 40
LANGUAGE_PRIMARY_POINTS = 25
GEO_POINTS = 40
FOLLOWER_POINTS = 20
FOLLOWERS_PER_POINT = 5_000


class JSONListHas(Func):
    """True when the JSON list in ``expression`` holds the string ``value``."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, expression, value: str):
        super().__init__(expression)
        self.value = value

    def as_sql(self, compiler, connection, **extra_context):
        import json

        column, params = compiler.compile(self.source_expressions[0])
        return f"({column} @> %s::jsonb)", (*params, json.dumps([self.value]))


def _primary(tag: str) -> str:
    return tag.split("-", 1)[0].casefold()


def language_points(pool_language: str, wanted: str) -> tuple[int, str]:
    if not wanted:
        return LANGUAGE_POINTS, "no language asked"
    if pool_language.casefold() == wanted.casefold():
        return LANGUAGE_POINTS, f"language {pool_language}"
    if pool_language and _primary(pool_language) == _primary(wanted):
        return LANGUAGE_PRIMARY_POINTS, f"language {pool_language} (asked {wanted})"
    return 0, f"language {pool_language or 'unset'}, asked {wanted}"


def fits(pool, lease_request: LeaseRequest) -> bool:
    """An account fits a request when its pool is tagged with the request's vertical,
    compared as ``vertical_key`` (however the partner or ops spelled it). A sandbox pool
    fits its own test-mode organization's requests only, whatever their vertical."""
    if pool.sandbox_of_id is not None:
        return pool.sandbox_of_id == lease_request.organization_id
    key = lease_request.vertical_key or vertical_key(lease_request.vertical)
    return any(vertical_key(tag) == key for tag in pool.tags)


def fitting_pools(lease_request: LeaseRequest) -> dict[int, Pool]:
    """Pools tagged with the request's vertical (one query; pools are few); never another
    organization's sandbox pool."""
    return {
        pool.pk: pool
        for pool in Pool.objects.filter(
            Q(sandbox_of__isnull=True) | Q(sandbox_of=lease_request.organization_id)
        ).only("pk", "name", "tags", "language", "geos", "sandbox_of")
        if fits(pool, lease_request)
    }


@dataclass(frozen=True)
class Candidate:
    account: SocialAccount
    pool: Pool
    score: int
    language_points: int
    geo_points: int
    follower_points: int
    geo_matches: tuple[str, ...]
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def _request_geos(lease_request: LeaseRequest) -> list[str]:
    return sorted({str(code).upper() for code in lease_request.geo or []})


def ranked_accounts(lease_request: LeaseRequest, pools: dict[int, Pool]) -> QuerySet:
    """Ready accounts of ``pools`` annotated with their score parts, best first.

    Each geo asked is one annotation ``geo_<CODE>`` (a boolean), so the reason can name
    the countries matched without a second query.
    """
    geos = _request_geos(lease_request)
    by_points: dict[int, list[int]] = {}
    for pool in pools.values():
        points, _ = language_points(pool.language, lease_request.language)
        by_points.setdefault(points, []).append(pool.pk)
    language = Case(
        *(When(pool_id__in=ids, then=Value(points)) for points, ids in by_points.items()),
        default=Value(0),
        output_field=IntegerField(),
    )
    geo_flags = {f"geo_{code}": JSONListHas(F("follower_geos"), code) for code in geos}
    if geos:
        matched = sum(
            (
                Case(When(flag, then=Value(1)), default=Value(0), output_field=IntegerField())
                for flag in geo_flags.values()
            ),
            start=Value(0, output_field=IntegerField()),
        )
        geo = matched * Value(GEO_POINTS) / Value(len(geos))
    else:
        geo = Value(GEO_POINTS, output_field=IntegerField())
    followers = Least(
        F("followers") / Value(FOLLOWERS_PER_POINT),
        Value(FOLLOWER_POINTS),
        output_field=IntegerField(),
    )
    return (
        SocialAccount.objects.filter(state=AccountState.READY, pool_id__in=list(pools))
        .annotate(**geo_flags)
        .annotate(language_points=language, geo_points=geo, follower_points=followers)
        .annotate(score=F("language_points") + F("geo_points") + F("follower_points"))
        .order_by("-score", "-followers", "pk")
    )


def _candidate(account: SocialAccount, pool: Pool, lease_request: LeaseRequest) -> Candidate:
    geos = _request_geos(lease_request)
    matches = tuple(code for code in geos if getattr(account, f"geo_{code}"))
    _, language_reason = language_points(pool.language, lease_request.language)
    if geos:
        geo_reason = (
            f"followers in {', '.join(matches)} ({len(matches)} of {len(geos)} asked)"
            if matches
            else f"no followers in {', '.join(geos)}"
        )
    else:
        geo_reason = "no geo asked"
    reasons = (
        f"pool tagged {lease_request.vertical}",
        f"{language_reason} +{account.language_points}",
        f"{geo_reason} +{account.geo_points}",
        f"{account.followers:,} followers +{account.follower_points}",
    )
    return Candidate(
        account=account,
        pool=pool,
        score=account.score,
        language_points=account.language_points,
        geo_points=account.geo_points,
        follower_points=account.follower_points,
        geo_matches=matches,
        reasons=reasons,
    )


def follower_points(followers: int) -> int:
    return min(followers // FOLLOWERS_PER_POINT, FOLLOWER_POINTS)


def _geo_points(matched: int, asked: int) -> int:
    """As the SQL computes it: integer division of matched * GEO_POINTS by asked."""
    return matched * GEO_POINTS // asked if asked else GEO_POINTS


def top_accounts(
    lease_request: LeaseRequest, pools: dict[int, Pool], limit: int, *, exclude=()
) -> list[SocialAccount]:
    """The best ``limit`` ready accounts of ``pools`` (annotated like ``ranked_accounts``),
    in rank order. ``exclude``: account ids to pass over.

    Within one pool and one number of matched countries, the score only grows with
    followers, so rank order there is the index order (followers desc, id). Each such
    class is read best first, highest possible score first, ``limit`` rows at most; once
    ``limit`` candidates are in hand, a class is read only down to the followers that
    could still tie the last of them, and classes that cannot reach it are skipped.
    """
    if limit < 1 or not pools:
        return []
    ranked = ranked_accounts(lease_request, pools)
    if exclude:
        ranked = ranked.exclude(pk__in=list(exclude))
    asked = len(_request_geos(lease_request))
    classes = []  # (best possible score, pool id, fixed points, geo points)
    for pool_id, pool in pools.items():
        language = language_points(pool.language, lease_request.language)[0]
        for matched in sorted({*range(asked + 1)} if asked else {0}, reverse=True):
            geo = _geo_points(matched, asked)
            classes.append((language + geo + FOLLOWER_POINTS, pool_id, language + geo, geo))
    classes.sort(key=lambda c: (-c[0], c[1], -c[3]))
    best: list[tuple] = []  # (pk, followers, score), best first
    for best_possible, pool_id, fixed, geo in classes:
        rows = ranked.filter(pool_id=pool_id, geo_points=geo)
        if len(best) == limit:
            _, _, nth_score = best[-1]
            if best_possible < nth_score:
                break  # classes are in order of best possible score: none can reach it
            needed_points = max(nth_score - fixed, 0)
            rows = rows.filter(followers__gte=needed_points * FOLLOWERS_PER_POINT)
        rows = rows.order_by("-followers", "pk").values_list("pk", "followers", "score")
        best = sorted([*best, *rows[:limit]], key=lambda r: (-r[2], -r[1], r[0]))[:limit]
    order = {row[0]: position for position, row in enumerate(best)}
    return sorted(ranked.filter(pk__in=list(order)), key=lambda account: order[account.pk])


def allocation_candidates(lease_request: LeaseRequest, limit: int = 50) -> list[Candidate]:
    """The best ``limit`` ready accounts for the request, best first, each with its score
    and the reasons for it: one query for the pools, then a few per fitting pool."""
    pools = fitting_pools(lease_request)
    accounts = top_accounts(lease_request, pools, limit)
    return [_candidate(account, pools[account.pool_id], lease_request) for account in accounts]


def ready_supply_count(lease_request: LeaseRequest) -> int:
    """How many ready accounts fit the request at all."""
    pools = fitting_pools(lease_request)
    if not pools:
        return 0
    return SocialAccount.objects.filter(state=AccountState.READY, pool_id__in=list(pools)).count()
