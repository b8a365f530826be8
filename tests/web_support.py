"""Driving the staff pages with Flask's test client: sign in as a demo user, read a page's CSRF token."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def sign_in(app: Any, username: str) -> FlaskClient:
    client = app.test_client()
    page = client.get("/login")
    response = client.post("/login", data={"username": username, "password": "demo", "csrf_token": csrf_of(page.text)})
    assert response.status_code == 302, response.text
    return client
