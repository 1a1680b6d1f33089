"""possync-server: run the sync server and manage its terminals (a table of commands, like mpremote)."""

import argparse
import json
import logging
import signal
import sys
import threading

from server.analytics import cli as reports
from server.campaigns import cli as campaigns
from server.commands import CommandError, app_for, config_parent, settings
from server.customers import cli as customers
from server.fleet import cli as fleet
from server.jobs import cli as jobs
from server.licences import cli as licences
from server.loyalty import cli as loyalty
from server.notify import cli as notify
from server.tags import cli as tags
from server.vault import cli as vault
from server.wallet import cli as wallet

EPILOG = """examples:
  possync-server demo
  possync-server init-db --config /etc/possync/server.json
  possync-server device add T1 --agent-config t1.json --token-key-file /etc/possync/token.key \\
      --mqtt-host broker.example.com --mosquitto-passwd /etc/mosquitto/passwd
  possync-server merchant add M001 --name "西湖店" --province 浙江
  possync-server device set T1 --merchant M001
  possync-server device list
  possync-server device revoke T1 --mosquitto-passwd /etc/mosquitto/passwd
  possync-server licences import server/licences/sample_registry.json
  possync-server vault rotate-key
  possync-server jobs list
  possync-server tags define big_spender --rule "spend_90d >= 100000" --preview
  possync-server report kpis --from 2025-01-01 --to 2025-06-30 --merchant M001
  possync-server run --config /etc/possync/server.json

settings: a JSON file (--config) with keys such as DATABASE_URL, SECRET_KEY_FILE,
MQTT_HOST, MQTT_PORT, MQTT_USERNAME, MQTT_PASSWORD, MQTT_SHARED, HTTP_HOST, HTTP_PORT;
each may be overridden by an environment variable POSSYNC_<KEY>, e.g.
POSSYNC_DATABASE_URL=postgresql://possync@db/possync. POSSYNC_SECRET_KEY (64 hex digits)
replaces the master key file. Personal data lives in a separate vault database (VAULT_DATABASE_URL,
default vault.db beside the instance) under the key ring in VAULT_KEY_FILE, or POSSYNC_VAULT_KEYS="1:hex,2:hex".
"""


def argparse_run(sub, parent):
    p = sub.add_parser("run", parents=[parent], help="serve the web app and ingest MQTT until SIGTERM/SIGINT")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def argparse_init_db(sub, parent):
    sub.add_parser("init-db", parents=[parent], help="create the database tables (safe to repeat)")


def argparse_device(sub, parent):
    p = sub.add_parser("device", help="add, list, set or revoke terminals")
    dsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = dsub.add_parser(
        "add", parents=[parent], help="register a terminal and print its HMAC key and MQTT password once",
        description="Register a terminal: a new HMAC key and MQTT password, printed once. "
                    "--mosquitto-passwd adds the MQTT user to a Mosquitto password file; "
                    "send Mosquitto a SIGHUP afterwards so it reads the file again.")
    add.add_argument("dev", metavar="DEVICE", help="device id, 1-32 of A-Z a-z 0-9 - _ (also its MQTT user)")
    add.add_argument("--agent-config", metavar="PATH", help="write the agent's config file here (mode 0600)")
    add.add_argument("--token-key-file", metavar="FILE", help="fleet token key (created if missing); needed with --agent-config")
    add.add_argument("--mqtt-host", metavar="HOST", help="broker host the terminal connects to (default: MQTT_HOST)")
    add.add_argument("--mqtt-port", metavar="PORT", type=int, help="broker port (default: MQTT_PORT)")
    add.add_argument("--mqtt-tls-ca", metavar="FILE", help="CA file the terminal uses for a TLS broker")
    add.add_argument("--outbox", metavar="PATH", help="the terminal's outbox file (default /var/lib/possync/outbox.log)")
    add.add_argument("--mosquitto-passwd", metavar="FILE", help="add the MQTT user to this Mosquitto password file (then SIGHUP Mosquitto)")
    add.add_argument("--merchant", metavar="CODE", help="the merchant it sells for (see `possync-server merchant add`)")
    add.add_argument("--json", action="store_true", help="print the secrets as one JSON object")
    st = dsub.add_parser("set", parents=[parent], help="change a terminal's merchant")
    st.add_argument("dev", metavar="DEVICE")
    st.add_argument("--merchant", metavar="CODE", required=True, help="the merchant it sells for from now on")
    lst = dsub.add_parser("list", parents=[parent], help="list terminals")
    lst.add_argument("--json", action="store_true", help="print JSON")
    rev = dsub.add_parser("revoke", parents=[parent], help="refuse every frame of a terminal from now on")
    rev.add_argument("dev", metavar="DEVICE")
    rev.add_argument("--mosquitto-passwd", metavar="FILE", help="also delete the MQTT user from this file (then SIGHUP Mosquitto)")


def _master(app, cmd):
    from server import keys

    try:
        return keys.master_key(app.config["SECRET_KEY_FILE"])
    except keys.KeyStoreError as exc:
        raise CommandError("%s: %s" % (cmd, exc))


def do_run(args):
    from server import runtime

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = settings(args, "run")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        server = runtime.start(config)
    except OSError as exc:
        raise CommandError("run: cannot listen for HTTP (%s; change HTTP_PORT)" % exc)
    except Exception as exc:
        raise CommandError("run: %s" % exc)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def do_init_db(args):
    app = app_for(args, "init-db")
    print("database ready: %s" % _safe_url(app.config["DATABASE_URL"]))
    return 0


def do_device(args):
    return {"add": _device_add, "list": _device_list, "revoke": _device_revoke, "set": fleet.device_set}[args.action](args)


def _device_add(args):
    from server import keys
    from server.fleet import devices, merchants
    from server.wallet import cards as wallet_cards
    from server.wallet import settings as wallet_settings

    cmd = "device add"
    if args.agent_config and not args.token_key_file:
        raise CommandError("%s: --agent-config needs --token-key-file FILE (the fleet token key, created if missing)" % cmd)
    app = app_for(args, cmd)
    master = _master(app, cmd)
    token_key = None
    if args.agent_config:
        try:
            token_key = keys.load_key_file(args.token_key_file)
        except (keys.KeyStoreError, OSError) as exc:
            raise CommandError("%s: %s" % (cmd, exc))
    with app.app_context():
        try:
            device, key, password = devices.add_device(args.dev, master)
        except devices.FleetError as exc:
            raise CommandError("%s: %s" % (cmd, exc))
        try:
            if args.merchant:
                merchants.set_merchant(args.dev, args.merchant)
            if args.mosquitto_passwd:
                devices.mosquitto_users(args.mosquitto_passwd, {args.dev: password})
            if args.agent_config:
                agent = devices.agent_config(args.dev, key, token_key, password,
                                             args.mqtt_host or app.config["MQTT_HOST"],
                                             args.mqtt_port or app.config["MQTT_PORT"], args.mqtt_tls_ca)
                if args.outbox:
                    agent["outbox"]["path"] = args.outbox
                # the terminal starts with the server's offline limits and the cards frozen so far
                agent["offline"] = wallet_settings.offline_limits()
                agent["frozen"] = wallet_cards.frozen_tokens()
                devices.write_secret_file(args.agent_config, json.dumps(agent, indent=2) + "\n")
        except (devices.FleetError, OSError) as exc:
            devices.forget_device(args.dev)
            raise CommandError("%s: %s (device %s not added)" % (cmd, exc, args.dev))
    if args.json:
        print(json.dumps({"device": args.dev, "key_hex": key.hex(), "mqtt_username": args.dev,
                          "mqtt_password": password, "agent_config": args.agent_config}))
        return 0
    print("device %s added" % args.dev)
    print("  MQTT user:     %s" % args.dev)
    if args.agent_config:
        # the secrets are in the 0600 file; keep them out of terminals, shell logs and CI output
        print("  agent config:  %s (mode 0600: HMAC key and MQTT password are in it)" % args.agent_config)
    else:
        print("  HMAC key:      %s" % key.hex())
        print("  MQTT password: %s" % password)
    if args.mosquitto_passwd:
        print("  MQTT user added to %s: send Mosquitto a SIGHUP to load it" % args.mosquitto_passwd)
    if not args.agent_config:
        print("These secrets are shown only once; the server keeps the key encrypted and not the password.")
    return 0


def _device_list(args):
    from server.fleet import devices

    app = app_for(args, "device list")
    with app.app_context():
        rows = [d.as_dict() for d in devices.list_devices()]
    if args.json:
        print(json.dumps(rows))
        return 0
    if not rows:
        print("no devices (add one with: possync-server device add T1)")
        return 0
    print("%-20s %-12s %-8s %-20s %-12s %7s %10s" % ("DEVICE", "MERCHANT", "STATE", "LAST SEEN (UTC)", "VERSION",
                                                     "OUTBOX", "ACKED"))
    for d in rows:
        state = "revoked" if d["revoked"] else d["state"]
        print("%-20s %-12s %-8s %-20s %-12s %7d %10d" % (d["id"], d["merchant"] or "-", state, d["last_seen"] or "never",
                                                         d["version"] or "-", d["depth"], d["acked_upto"]))
    return 0


def _device_revoke(args):
    from server.fleet import devices

    cmd = "device revoke"
    app = app_for(args, cmd)
    with app.app_context():
        try:
            devices.revoke_device(args.dev)
        except devices.FleetError as exc:
            raise CommandError("%s: %s" % (cmd, exc))
    print("device %s revoked: its frames are refused from now on; the running ingest removes its retained "
          "config from the broker within INGEST_CONFIG_POLL_S" % args.dev)
    if args.mosquitto_passwd:
        try:
            devices.mosquitto_users(args.mosquitto_passwd, {args.dev: None})
        except devices.FleetError as exc:
            raise CommandError("%s: revoked, but %s (remove the MQTT user by hand)" % (cmd, exc))
        print("MQTT user removed from %s: send Mosquitto a SIGHUP to apply it" % args.mosquitto_passwd)
    return 0


def _safe_url(url):
    """A database URL without its password."""
    head, sep, tail = url.partition("@")
    if not sep or "://" not in head:
        return url
    scheme, _, cred = head.partition("://")
    return "%s://%s:***@%s" % (scheme, cred.split(":")[0], tail)


def argparse_demo(sub, parent):
    p = sub.add_parser("demo", help="embedded broker + server + web UI + simulated terminals, on SQLite",
                       description="Run the whole system on this machine with no setup: an embedded MQTT broker "
                                   "(amqtt, loopback only), the server and web UI on SQLite, and simulated terminals "
                                   "swiping cards and selling. Stop it with Ctrl-C.",
                       epilog="examples:\n  possync-server demo\n  possync-server demo --terminals 5 --rate 2 "
                              "--http-port 8000 --dir /tmp/possync-demo",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", metavar="DIR", help="where the demo keeps its database, keys and outboxes "
                                                "(default: possync-demo in the temp folder; reused across runs)")
    p.add_argument("--terminals", type=int, default=3, metavar="N", help="simulated terminals (default 3)")
    p.add_argument("--rate", type=float, default=0.5, metavar="R", help="sales per second per terminal (default 0.5)")
    p.add_argument("--http-port", type=int, default=5000, metavar="PORT", help="web UI port (default 5000, or a free one)")
    p.add_argument("--mqtt-port", type=int, default=1883, metavar="PORT", help="broker port (default 1883, or a free one)")
    p.add_argument("--seconds", type=float, default=0, metavar="S", help="stop after S seconds (default: run until Ctrl-C)")


def do_demo(args):
    from server import demo

    logging.basicConfig(level="WARNING", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if not 1 <= args.terminals <= 50:
        raise CommandError("demo: --terminals must be 1-50 (got %d)" % args.terminals)
    try:
        return demo.run(args.dir, args.terminals, args.http_port, args.mqtt_port, args.rate, args.seconds or None)
    except (OSError, RuntimeError) as exc:
        raise CommandError("demo: %s (try other ports with --http-port/--mqtt-port)" % exc)


COMMANDS = {
    "run": (argparse_run, do_run),
    "demo": (argparse_demo, do_demo),
    "init-db": (argparse_init_db, do_init_db),
    "device": (argparse_device, do_device),
    "merchant": (fleet.argparse_merchant, fleet.do_merchant),
    "licences": (licences.argparse_licences, licences.do_licences),
    "vault": (vault.argparse_vault, vault.do_vault),
    "coupon": (campaigns.argparse_coupon, campaigns.do_coupon),
    "referral": (campaigns.argparse_referral, campaigns.do_referral),
    "gifts": (campaigns.argparse_gifts, campaigns.do_gifts),
    "loyalty": (loyalty.argparse_loyalty, loyalty.do_loyalty),
    "customer": (customers.argparse_customer, customers.do_customer),
    "wallet": (wallet.argparse_wallet, wallet.do_wallet),
    "jobs": (jobs.argparse_jobs, jobs.do_jobs),
    "notify": (notify.argparse_notify, notify.do_notify),
    "report": (reports.argparse_report, reports.do_report),
    "tags": (tags.argparse_tags, tags.do_tags),
}


def parser():
    p = argparse.ArgumentParser(prog="possync-server", description="The possync sync server and its terminals.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parent = config_parent()
    for build, _ in COMMANDS.values():
        build(sub, parent)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except CommandError as exc:
        print("possync-server: %s" % exc, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
