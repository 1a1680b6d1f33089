"""possync sync server: Flask app factory, peewee models, MQTT ingest."""

import os

from flask import Flask


def create_app(config=None):
    """Build the web app: settings (defaults < ``config`` dict), instance folder, database, blueprints.

    The database is bound to ``server.db.db`` for this process and missing tables are
    created. Paths left unset live in the instance folder.
    """
    from server import config as settings

    config = dict(config or {})
    app = Flask(__name__, instance_path=config.pop("INSTANCE_PATH", None), instance_relative_config=True)
    app.config.from_mapping(settings.DEFAULTS)
    app.config.from_mapping(config, INSTANCE_PATH=app.instance_path)
    if not app.config["DATABASE_URL"] or not app.config["SECRET_KEY_FILE"]:
        os.makedirs(app.instance_path, exist_ok=True)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = "sqlite:///" + os.path.join(app.instance_path, "possync.db")
    if not app.config["SECRET_KEY_FILE"]:
        app.config["SECRET_KEY_FILE"] = os.path.join(app.instance_path, "master.key")

    from server import db

    db.init(app.config["DATABASE_URL"], app.config["SQLITE_SYNCHRONOUS"])
    from server.vault import db as vault

    vault.init_app(app)

    @app.before_request
    def _open_db():
        db.db.connect(reuse_if_open=True)

    @app.teardown_appcontext
    def _close_db(exc):
        if not db.db.is_closed():
            db.db.close()

    from server import obs
    from server.analytics import views as reports
    from server.fleet import views as fleet
    from server.licences import views as licences

    app.register_blueprint(fleet.bp)
    app.register_blueprint(obs.bp)
    app.register_blueprint(licences.bp)
    app.register_blueprint(reports.bp)
    return app
