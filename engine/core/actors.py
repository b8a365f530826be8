"""Who asks for a command: a user name and the groups it works in, or the system itself.

The interfaces build an `Actor` from the authenticated user; the engine checks it against a task's
candidate group. Its own module, so that the commands and the work-list queries can both use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who asks for a command; the interfaces build it from the authenticated user."""

    name: str
    groups: frozenset[str] = frozenset()
    system: bool = False

    def may_work_in(self, group: str | None) -> bool:
        return self.system or (group is not None and group in self.groups)


SYSTEM = Actor("system", system=True)
