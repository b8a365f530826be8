"""The auditor's pages: case history with time travel, replay, chain verification, case-file export, KPIs.

Routes are added to the staff-page blueprint (`api.web.views.bp`): same sign-in, errors and layout.
"""

from __future__ import annotations

from api.web.views import bp  # noqa: F401
