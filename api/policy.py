"""Who may do what: the one table of actions × roles that the REST API, the staff pages and the CLI
all read (issue #13: some forty role sets across eight modules had drifted apart).

An action names something a person does ("start a case", "read every task"); each REST operation,
page and CLI command that needs a role names its action here. The roles are the groups of
`engine.core.users.ROLES`. Checks on *which* item (a task's group, a channel's own application, a
lead's own team) stay where the item is read; this table only says which roles may try at all.
The README's "Roles" paragraph lists the decisions; tests/test_api_roles.py and
tests/test_web_roles.py generate their expectations from `POLICY`.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.core import actors, users
from engine.core.errors import Forbidden

ROLES: tuple[str, ...] = tuple(code for code, _name in users.ROLES)
#: Everyone but the channel clients (apps, WeChat, the portal), who use the API for their own applications.
STAFF = frozenset(ROLES) - {"channel"}
#: Any signed-in account, whatever its groups (documented as `x-roles: ["*"]`).
ANYONE = frozenset({"*"})

_CENTRE = frozenset({"dispatcher", "supervisor"})
_DISPATCH_READERS = frozenset({"dispatcher", "supervisor", "lead", "manager", "auditor"})

POLICY: dict[str, frozenset[str]] = {
    # -- every account ----------------------------------------------------------------------------
    "account.read": ANYONE,                           # who am I, which groups exist
    "applications.read": frozenset(ROLES),            # a channel client only its own (checked per item)
    "applications.submit": frozenset({"channel", "clerk"}),  # online channels, and the counter keying one in
    "applications.withdraw": frozenset({"channel", "clerk", "manager"}),  # the customer, through whoever serves him
    "documents.read": frozenset(ROLES),               # a channel client only its own uploads
    "documents.upload": frozenset(ROLES) - {"auditor"},  # auditors read, they add nothing to a case
    # -- staff: cases and work ----------------------------------------------------------------------
    "staff.read": STAFF,                              # cases, history, deadlines, definitions, calendar, pages
    "applications.read_all": STAFF,                   # staff see every application, not only their own
    "tasks.work": STAFF - {"auditor"},                # claim/complete/delegate, acknowledge; the task's group decides
    "tasks.read_all": frozenset({"supervisor", "auditor"}),  # the command centre chases all work; audit reads it
    "notices.read_all": frozenset({"auditor"}),       # others' notices: an inbox stays its recipients' own
    "cases.start": frozenset({"clerk", "manager"}),   # the counter, and the customer manager for large customers
    "cases.message": frozenset({"clerk", "manager"}),  # a customer's request (withdraw) through the counter or manager
    "cases.cancel": frozenset({"manager", "supervisor"}),  # ends a customer's case: the manager or the centre
    "cases.pause": frozenset({"manager", "supervisor"}),   # customer-caused waiting stops the clock (and resume)
    "cases.retry": frozenset({"supervisor"}),         # a failed step is an operations matter
    "cases.replay": frozenset({"auditor", "supervisor", "analyst"}),  # replay and time travel: explain a case
    # -- audit and figures --------------------------------------------------------------------------
    "audit.read": frozenset({"auditor", "supervisor"}),   # case files, chain verification
    "kpi.read": frozenset({"auditor", "supervisor", "analyst"}),  # service KPIs and the waiting heatmap
    # -- models -------------------------------------------------------------------------------------
    "models.read": frozenset({"analyst", "supervisor", "auditor", "admin"}),  # versions, diffs, exports
    "models.edit": frozenset({"analyst"}),             # check, deploy, migrate: the process analysts only
    # -- administration -----------------------------------------------------------------------------
    "users.read": frozenset({"admin", "auditor"}),     # accounts and their groups (audit checks who could act)
    "users.admin": frozenset({"admin"}),
    "calendar.import": frozenset({"admin"}),            # the working-day calendar every deadline counts in
    "connectors.read": frozenset({"admin", "supervisor"}),  # the connectors' health, queues and dead letters
    "connectors.redeliver": frozenset({"admin", "supervisor"}),  # queue a connector's dead letter again
    "admin.pages": frozenset({"admin", "supervisor"}),  # the /admin landing (each section checks its own action)
    "rules.read": frozenset({"admin", "supervisor"}),  # time-limit rule sets, versions, escalation chains
    "rules.admin": frozenset({"admin"}),                # edit, copy, activate a rule set (every change versioned)
    "teams.admin": _CENTRE | {"admin"},                 # field teams and their members, on the admin pages too
    # -- dispatch centre ----------------------------------------------------------------------------
    "dispatch.read": _DISPATCH_READERS,               # board, capacity, teams, appointments, lists
    "dispatch.availability": _DISPATCH_READERS | {"clerk"},  # free slots, for the counter booking a visit
    "dispatch.centre": _CENTRE,                         # teams, direct booking, rescheduling, lists, urging
    "dispatch.lead": _CENTRE | {"lead"},               # capacity reports and assigning workers (a lead: own team)
    "field.report": frozenset({"dispatcher", "surveyor", "metering"}),  # arrival and completion (a worker: own job)
    "field.callback": frozenset({"dispatcher"}),       # the call-back desk sits in the dispatch centre
    "works.read": frozenset({"manager", "dispatcher", "supervisor", "auditor"}),  # the works list (清册)
    "works.follow_up": frozenset({"manager", "supervisor"}),  # the customer manager follows the customer's works
    "dispatch.mode": frozenset({"supervisor"}),        # switch central / team self-dispatch (with a reason)
    # -- the connected service centre ----------------------------------------------------------------
    "threads.post": frozenset({"channel", "clerk", "manager", "supervisor"}),  # the customer (own case) or staff
    "threads.answer": frozenset({"clerk", "manager", "supervisor"}),  # answer, log a call or a visit
    "analysis.read": frozenset({"analyst", "supervisor", "auditor"}),  # load growth for grid planning
}


def roles(action: str) -> frozenset[str]:
    """The roles that may do `action` (ANYONE's marker for any signed-in account); KeyError if unknown."""
    return POLICY[action]


def holders(action: str) -> tuple[str, ...]:
    """The roles that may do `action`, spelled out (every role for ANYONE), in the order of ROLES."""
    allowed = POLICY[action]
    return tuple(r for r in ROLES if allowed is ANYONE or r in allowed)


def may(groups: Iterable[str], action: str) -> bool:
    allowed = POLICY[action]
    return allowed is ANYONE or bool(allowed & set(groups))


def need(groups: Iterable[str], action: str) -> None:
    """Raise Forbidden unless one of `groups` may do `action`."""
    if not may(groups, action):
        raise Forbidden(f"this needs one of the roles: {', '.join(holders(action))}")


def acting_as(name: str, action: str) -> actors.Actor:
    """The CLI acting for a person: it has the database anyway, so it holds exactly the roles the
    policy gives the action — the same groups a permitted user would bring, and no others."""
    return actors.Actor(name, frozenset(holders(action)))
