"""The analyst's pages: the process modeler, check and deploy, versions and diff, migration of running cases.

Routes are added to the staff-page blueprint (`api.web.views.bp`): same sign-in, errors and layout.
"""

from __future__ import annotations

from api.web.views import bp  # noqa: F401
