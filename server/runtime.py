"""Run the server in this process: web app on a thread plus MQTT ingest, stoppable as one."""

import logging
import threading

from werkzeug.serving import make_server

from server import create_app, keys
from server.ingest.keycache import DeviceKeys
from server.ingest.loop import IngestLoop
from server.jobs import scheduler
from server.obs import INGEST

log = logging.getLogger("possync.server")


class Runtime:
    """A running server: ``app``, ``ingest`` (or None), ``url`` of the web app; ``stop()`` ends them all."""

    def __init__(self, app, http, ingest):
        self.app = app
        self.http = http
        self.ingest = ingest
        self._jobs_stop = threading.Event()
        if app.config["JOBS"]:
            scheduler.start_thread(app, self._jobs_stop)
        self.port = http.server_port
        self.url = "http://%s:%d" % (app.config["HTTP_HOST"], self.port)
        self._thread = threading.Thread(target=http.serve_forever, name="possync-http", daemon=True)
        self._thread.start()

    def stop(self):
        """Stop taking requests and frames; frames not yet committed stay with the broker."""
        self._jobs_stop.set()
        if self.ingest is not None:
            self.ingest.stop()
        self.http.shutdown()
        self._thread.join(10)
        self.http.server_close()


def start(config):
    """Start web app and (unless INGEST is false) ingest from a settings dict; return a Runtime.

    HTTP_PORT 0 picks a free port (see ``Runtime.port``).
    """
    app = create_app(config)
    cfg = app.config
    http = make_server(cfg["HTTP_HOST"], int(cfg["HTTP_PORT"]), app, threaded=True)
    ingest = None
    if cfg["INGEST"]:
        try:
            master = keys.master_key(cfg["SECRET_KEY_FILE"])
            ingest = IngestLoop(cfg, DeviceKeys(master)).start()
        except Exception:
            http.server_close()
            raise
        app.extensions[INGEST] = ingest
    runtime = Runtime(app, http, ingest)
    log.info("web app on %s; ingest %s", runtime.url,
             "from %s:%s" % (cfg["MQTT_HOST"], cfg["MQTT_PORT"]) if ingest else "off")
    return runtime
