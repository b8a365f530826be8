"""The staff case page shows the case data by step (the case file's code path), and the history's
time-travel panel shows Chinese labels and formatted values only — never a raw key, an ISO instant or
True/False. The driven case runs a field job, so its call-back (作业回访) and the final 回访 both enter
`satisfaction`: on the case page each keeps its own value under its own step.

SQLite only, like tests/test_web_audit.py (by_step itself is tested on both backends).
"""

from __future__ import annotations

import re
from typing import Any

from engine.audit import chains as audit
from engine.core import history
from tests.test_web_audit import web  # noqa: F401  (fixture)
from tests.test_web_pages import app, calendar_db  # noqa: F401  (fixtures)
from tests.web_support import sign_in

RAW_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _section(html: str, task: str) -> list[str]:
    """The (title, value) rows of each step section of `task`, in page order."""
    out = []
    for m in re.finditer(rf'data-testid="file-step" data-task="{task}"[^>]*>(.*?)</section>', html, re.S):
        out.append(m.group(1))
    return out


def test_case_page_shows_each_steps_data_under_the_step(web: Any) -> None:  # noqa: F811
    client = sign_in(web, "clerk")
    page = client.get(f"/cases/{web.case_id}")
    assert page.status_code == 200
    html = page.text
    assert "按环节的案卷数据" in html or 'data-testid="case-data"' in html
    rows, _total = audit.events(web.db, web.case_id)
    entered = {}
    for ev in rows:
        if ev.type == "task_completed" and "satisfaction" in (history.payload_of(ev).get("data") or {}):
            entered.setdefault(ev.task_spec, []).append(history.payload_of(ev)["data"]["satisfaction"])
    assert {"job_callback", "callback"} <= set(entered), entered  # two steps share the field name
    for task in ("job_callback", "callback"):
        sections = _section(html, task)
        assert len(sections) == len(entered[task])
        for section in sections:
            assert 'data-key="satisfaction"' in section, task
    # every label and value is as people read it: no raw key, no ISO instant, no True/False
    titles = re.findall(r"<dt>(.*?)</dt>", html.split('data-testid="case-data"', 1)[1].split("</details>")[0])
    assert titles and not [t for t in titles if RAW_KEY.match(t)], titles
    shown = re.sub(r'<details class="raw".*?</details>', "", html, flags=re.S)
    assert not ISO_INSTANT.search(shown.split('data-testid="case-data"', 1)[1].split('data-testid="clocks"')[0])
    assert ">True<" not in shown and ">False<" not in shown


def test_history_panel_has_no_raw_keys_or_values(web: Any) -> None:  # noqa: F811
    client = sign_in(web, "auditor")
    rows, last = audit.events(web.db, web.case_id)
    changed_any = 0
    for seq in range(1, last + 1):
        panel = client.get(f"/cases/{web.case_id}/as-of/{seq}.json").get_json()["panel"]
        visible = re.sub(r'<details class="raw".*?</details>', "", panel, flags=re.S)
        titles = re.findall(r'<tr class="chg-[a-z]+" data-key="[^"]*"><td>(.*?)</td>', visible)
        changed_any += len(titles)
        assert not [t for t in titles if RAW_KEY.match(t)], (seq, titles)
        assert not ISO_INSTANT.search(visible), seq
        assert ">True<" not in visible and ">False<" not in visible, seq
        entered = re.findall(r"<dt>(.*?)</dt>", panel.split('data-testid="asof-entered"', 1)[-1]
                             if 'data-testid="asof-entered"' in panel else "")
        assert not [t for t in entered if RAW_KEY.match(t)], (seq, entered)
    assert changed_any > 10
