from datetime import timedelta

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from layers_ops.partners.models import Organization, Project
from leasing.models import (
    AccountState,
    DisconnectReason,
    Lease,
    LeaseRequest,
    LeaseStatus,
    Pool,
    RequestStatus,
    SocialAccount,
)
from leasing.periods import period_start
from leasing.sla import sla_due_at
from leasing.validators import vertical_key


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization

    name = factory.Sequence(lambda n: f"Org {n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class PoolFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pool

    name = factory.Sequence(lambda n: f"Pool {n}")
    tags = factory.LazyFunction(lambda: ["coffee"])
    language = "en"
    geos = factory.LazyFunction(lambda: ["US"])


class SocialAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SocialAccount

    pool = factory.SubFactory(PoolFactory)
    handle = factory.Sequence(lambda n: f"warm_{n:04d}")
    followers = factory.Sequence(lambda n: 1000 + n)
    follower_geos = factory.LazyAttribute(lambda o: list(o.pool.geos))
    state = AccountState.READY


class LeaseRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LeaseRequest

    status = RequestStatus.REQUESTED
    project = factory.SubFactory(ProjectFactory)
    organization = factory.LazyAttribute(lambda o: o.project.organization)
    count = 3
    vertical = "coffee"
    vertical_key = factory.LazyAttribute(lambda o: vertical_key(o.vertical))
    language = "en"
    geo = factory.LazyFunction(lambda: ["US"])
    submitted_at = factory.LazyFunction(timezone.now)
    sla_due_at = factory.LazyAttribute(lambda o: sla_due_at(o.submitted_at))
    closed_at = factory.LazyAttribute(
        lambda o: None if o.status == RequestStatus.REQUESTED else timezone.now()
    )


class LeaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lease

    social_account = factory.SubFactory(SocialAccountFactory, state=AccountState.LEASED)
    lease_request = factory.SubFactory(LeaseRequestFactory)
    project = factory.LazyAttribute(lambda o: o.lease_request.project)
    monthly_price_cents = factory.LazyFunction(lambda: settings.LEASE_PRICE_CENTS)
    assigned_at = factory.LazyFunction(timezone.now)
    periods_paid = 1
    next_renewal_at = factory.LazyAttribute(lambda o: period_start(o.assigned_at, o.periods_paid))

    class Params:
        disconnected = factory.Trait(
            status=LeaseStatus.DISCONNECTED,
            disconnected_at=factory.LazyAttribute(lambda o: o.assigned_at + timedelta(days=3)),
            disconnected_reason=DisconnectReason.OPS,
        )
