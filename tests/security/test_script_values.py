"""Finding 5: a value a script leaves in task data wedged the case.

User task → script task that sets `when = date(2026, 1, 1)` (or a Decimal, bytes, a set…) →
completing the user task over REST answered 500 every time, the case stayed `running` without
an error, and retry answered 409. Now dates and datetimes are stored as ISO strings, other
non-JSON values put the case in `error` naming the variable, and retry works once the model is
fixed (a new version, the case migrated to it).
"""

from __future__ import annotations

import pytest

from engine.audit import replay
from engine.modeling import migration
from tests.api_support import Api, api  # noqa: F401  (fixture)
from tests.security import script_models

I = "/api/v1/process-instances"


def _start_and_fill(api: Api) -> tuple[int, object]:
    started = api.ok("POST", I, 201, as_="clerk", json={"key": script_models.KEY, "data": {}})
    [fill] = started["new_items"]
    done = api.post(f"/api/v1/tasks/{fill['id']}/complete", as_="clerk", json={"data": {"note": "x"}})
    assert done.status_code in (200, 201), (done.status_code, done.get_json(silent=True))
    return started["instance_id"], done.get_json()


@pytest.mark.parametrize(("script", "stored"), [
    ("when = date(2026, 1, 1)", "2026-01-01"),
    ("when = parse_date('2026-01-01')", "2026-01-01"),
    ("when = datetime(2026, 1, 1, 9, 30, tzinfo=parse_datetime('2026-01-01T00:00:00+08:00').tzinfo)",
     "2026-01-01T09:30:00+08:00"),
    ("when = {'day': date(2026, 1, 1), 'days': [date(2026, 1, 2)]}",
     {"day": "2026-01-01", "days": ["2026-01-02"]}),
])
def test_dates_are_stored_as_iso_strings(api: Api, tmp_path, script, stored) -> None:
    script_models.deploy(api.db, tmp_path, script)
    iid, done = _start_and_fill(api)
    assert done["status"] == "running" and done["error"] is None
    case = api.ok("GET", f"{I}/{iid}", as_="supervisor")
    assert case["data"]["when"] == stored
    assert replay.replay(api.db, iid).ok


@pytest.mark.parametrize(("script", "kind"), [
    ("fee = Decimal('12.50')", "Decimal"),
    ("raw = b'abc'", "bytes"),
    ("tags = {'a', 'b'}", "set"),
    ("gap = timedelta(days=2)", "timedelta"),
])
def test_other_values_put_the_case_in_error_and_retry_works_after_a_fix(api: Api, tmp_path, script, kind) -> None:
    script_models.deploy(api.db, tmp_path, script)
    iid, done = _start_and_fill(api)
    name = script.split(" =")[0]
    assert done["status"] == "error"
    assert f"variable '{name}'" in done["error"]["message"] and kind in done["error"]["message"]
    again = api.ok("POST", f"{I}/{iid}/retry", as_="supervisor")
    assert again["status"] == "error"  # still the same model: still refused, still not wedged
    fixed = script_models.deploy(api.db, tmp_path, f"{name} = 'fixed'")
    migration.migrate(api.db, iid, fixed.version, actor="admin", note="fix the script")
    retried = api.ok("POST", f"{I}/{iid}/retry", as_="supervisor")
    assert retried["status"] == "running" and retried["error"] is None
    assert api.ok("GET", f"{I}/{iid}", as_="supervisor")["data"][name] == "fixed"
