"""The staff pages (Jinja, zh-CN by default); `register` is called by the app factory.

Chinese is the default language; `?lang=en` (the switch in the header) changes it for the
session. Browser libraries (bpmn-js, @json-editor/json-editor, DOMPurify, flatpickr, ECharts) are served straight from
`node_modules` through the allowlisted `/vendor/<lib>/<file>` route: no bundler (docs/architecture.md, "Pages").
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Flask, abort, request, send_from_directory, session
from flask_babel import Babel, get_locale

from engine.core.clock import CHINA
from engine.core.config import PROJECT_ROOT

HERE = Path(__file__).resolve().parent
NODE_MODULES = PROJECT_ROOT / "node_modules"
#: library -> (directory, file suffixes that may be served from it)
VENDOR: dict[str, tuple[Path, tuple[str, ...]]] = {
    "bpmn-js": (NODE_MODULES / "bpmn-js" / "dist", (".js", ".css", ".woff", ".woff2", ".ttf", ".eot", ".svg")),
    "json-editor": (NODE_MODULES / "@json-editor" / "json-editor" / "dist", (".js",)),
    "dompurify": (NODE_MODULES / "dompurify" / "dist", (".js",)),
    "flatpickr": (NODE_MODULES / "flatpickr" / "dist", (".js", ".css")),
    "echarts": (NODE_MODULES / "echarts" / "dist", (".min.js",)),
}
LANGUAGES = ("zh_CN", "en")


def select_locale() -> str:
    lang = request.args.get("lang") or session.get("lang")
    return lang if lang in LANGUAGES else "zh_CN"


def vendor_ready() -> bool:
    return all((root / name).is_file() for root, name in (
        (VENDOR["bpmn-js"][0], "bpmn-navigated-viewer.production.min.js"),
        (VENDOR["json-editor"][0], "jsoneditor.js"), (VENDOR["dompurify"][0], "purify.min.js")))


def local_time(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant in China time (the engine stores UTC)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(CHINA).strftime(fmt)


def ensure_catalogs(app: Flask) -> None:
    """Compile a translation catalog whose .mo is missing or older than its .po.

    `make install` compiles them; this covers a checkout used without it (a bare `pytest`), where
    a missing .mo would silently turn the pages English.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po in (HERE / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        try:
            with po.open("rb") as f:
                catalog = read_po(f, locale=po.parent.parent.name)
            tmp = mo.with_suffix(".mo.tmp")
            with tmp.open("wb") as f:
                write_mo(f, catalog)
            tmp.replace(mo)
        except OSError as exc:  # a read-only install: say so, the pages fall back to English
            app.logger.warning("could not compile %s: %s", po, exc)


def register(app: Flask) -> None:
    """Attach the page blueprint, Babel, the vendor static route."""
    from api.web import (  # noqa: F401 (routes on views.bp)
        admin_pages,
        audit_pages,
        case_documents,
        centre_pages,
        connector_pages,
        dispatch_pages,
        kpi_pages,
        modeler_pages,
        rules_pages,
        task_pages,
        views,
    )

    ensure_catalogs(app)

    app.config.setdefault("BABEL_DEFAULT_LOCALE", "zh_CN")
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(HERE / "translations"))
    Babel(app, locale_selector=select_locale)

    @app.context_processor
    def _page_globals() -> dict[str, Any]:
        return {"get_locale": get_locale}

    app.add_template_filter(local_time, "local_time")

    @app.get("/vendor/<lib>/<path:filename>")
    def vendor(lib: str, filename: str) -> Any:
        entry = VENDOR.get(lib)
        if entry is None or not filename.endswith(entry[1]):
            abort(404)
        response = send_from_directory(entry[0], filename, max_age=3600)  # safe_join: ../ is a 404
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.get("/favicon.ico")
    @app.get("/favicon.svg")
    def favicon() -> Any:
        """The site icon, for the pages and the API docs (browsers ask for /favicon.ico on their own)."""
        response = send_from_directory(HERE / "static", "favicon.svg", mimetype="image/svg+xml", max_age=86400)
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    app.register_blueprint(views.bp)
