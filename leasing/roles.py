"""The staff groups: Ops works the queue, pools and partner keys; Finance the money
(and may read the queue, never claim, allocate or close).

Kept in step with the models after every ``migrate`` (see LeasingConfig.ready), so a
deployment never runs with stale or missing groups. Neither group can do the other's job.
"""

from django.contrib.auth.models import Group, Permission

OPS = "Ops"
FINANCE = "Finance"

ROLE_PERMISSIONS = {
    OPS: {
        "partners": {
            "organization": ["view", "add", "change"],
            "project": ["view", "add", "change"],
            "apikey": ["view", "add", "change"],
        },
        "leasing": {
            # change: claim and add notes; allocate_leaserequest: allocate and close.
            "leaserequest": ["view", "change", "allocate_leaserequest"],
            "requestnote": ["view", "add"],
            "pool": ["view", "add", "change"],
            "socialaccount": ["view", "add", "change"],
            # end_lease: the "End selected leases (ops)" action.
            "lease": ["view", "end_lease"],
        },
        # Partners' webhooks: read every attempt; pause, resume and replay.
        "webhooks": {
            "webhookendpoint": ["view", "pause_webhookendpoint"],
            "webhookdelivery": ["view", "replay_webhookdelivery"],
            "webhookattempt": ["view"],
        },
    },
    FINANCE: {
        "partners": {"organization": ["view"], "project": ["view"]},
        "billing": {
            "ledgeraccount": ["view"],
            "wallet": ["view", "move_money"],
            "ledgertransaction": ["view"],
            "ledgerentry": ["view"],
        },
        # Finance reads the queue (what is owed and why) but never works it.
        "leasing": {"leaserequest": ["view"], "requestnote": ["view"], "lease": ["view"]},
    },
}


def roles_sync(**kwargs) -> None:
    for group_name, apps in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=group_name)
        # "view", "add", ... name a model's default permission; a name with an underscore
        # is the full codename of a custom one (e.g. billing's "move_money").
        codenames = [
            (app_label, action if "_" in action else f"{action}_{model}")
            for app_label, models in apps.items()
            for model, actions in models.items()
            for action in actions
        ]
        permissions = [
            permission
            for permission in Permission.objects.filter(
                content_type__app_label__in=apps.keys()
            ).select_related("content_type")
            if (permission.content_type.app_label, permission.codename) in codenames
        ]
        group.permissions.set(permissions)
