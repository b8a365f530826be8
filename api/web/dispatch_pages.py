"""The dispatch centre's pages: board, dispatch lists, the field worker's phone page, capacity, works.

Routes are added to the staff-page blueprint (`api.web.views.bp`): same sign-in, errors and layout.
"""

from __future__ import annotations

from api.web.views import bp  # noqa: F401
