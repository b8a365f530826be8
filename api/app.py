"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from werkzeug.routing import IntegerConverter

from engine import wiring
from engine.core import config
from engine.core.db import Database
from engine.core.errors import YekuoError


class RowId(IntegerConverter):
    """`<int:…>` in every route: a number too big for a database integer is no row (404), not an
    overflow inside the driver (500)."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(url_map, *args, **kwargs)


def create_app(settings: config.Settings | None = None, db: Database | None = None,
               *, start_scheduler: bool = False) -> Flask:
    """The app; outside demo mode it refuses to start without a proper `YEKUO_SECRET_KEY`."""
    from api import security

    settings = settings or config.from_env()
    security.require_secret(settings)
    wiring.install()
    app = Flask(__name__)
    app.url_map.converters["int"] = RowId
    app.config["SECRET_KEY"] = settings.secret_key
    app.extensions["yekuo.settings"] = settings
    app.extensions["yekuo.db"] = db or Database(settings.database_url)
    security.install(app, settings)

    @app.errorhandler(YekuoError)
    def engine_error(err: YekuoError) -> Any:
        return jsonify(error=err.to_dict()), err.status

    from api import auth, rest, web

    app.before_request(auth.check_csrf)
    rest.register(app)
    web.register(app)

    if start_scheduler:
        from engine import scheduler

        sched = scheduler.build(app.extensions["yekuo.db"], interval=settings.scheduler_interval, settings=settings)
        sched.start()
        app.extensions["yekuo.scheduler"] = sched
    return app
