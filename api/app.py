"""The Flask application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify

from engine import wiring
from engine.core import config
from engine.core.db import Database
from engine.core.errors import YekuoError


def create_app(settings: config.Settings | None = None, db: Database | None = None,
               *, start_scheduler: bool = False) -> Flask:
    settings = settings or config.from_env()
    wiring.install()
    app = Flask(__name__)
    app.config["SECRET_KEY"] = settings.secret_key
    app.extensions["yekuo.settings"] = settings
    app.extensions["yekuo.db"] = db or Database(settings.database_url)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

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
