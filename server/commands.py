"""Plumbing shared by the possync-server commands: the error type, --config, the app."""

import argparse
import contextlib
import sys


class CommandError(Exception):
    """A command failed; the message starts with the command and says what to do next."""


def config_parent():
    """The parent parser that gives every command --config."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--config", metavar="FILE", help="JSON settings file (environment POSSYNC_* overrides it)")
    return parent


def subcommand(sub, parent, name, help, description, examples, prefix=""):
    """Add action ``name`` to the subparsers ``sub``: --config from ``parent``, and an "examples:" epilog
    with one line per example, ``prefix`` (e.g. "possync-server jobs ") before each."""
    return sub.add_parser(name, parents=[parent], help=help, description=description,
                          epilog="examples:\n" + "".join("  %s%s\n" % (prefix, e) for e in examples),
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def settings(args, cmd):
    """The settings of --config with POSSYNC_* overrides, or a CommandError naming the problem."""
    from server import config

    try:
        return config.load(args.config)
    except config.ConfigError as exc:
        raise CommandError("%s: %s" % (cmd, exc))


def app_for(args, cmd):
    """The Flask app for these settings, or a CommandError saying what to fix."""
    from peewee import ImproperlyConfigured, PeeweeException

    from server import create_app
    from server.vault.crypto import VaultError

    config = settings(args, cmd)
    try:
        return create_app(config)
    except (PeeweeException, ImproperlyConfigured) as exc:
        raise CommandError("%s: cannot open the database (%s; check DATABASE_URL)" % (cmd, exc))
    except VaultError as exc:
        raise CommandError("%s: %s" % (cmd, exc))
    except OSError as exc:
        raise CommandError("%s: cannot create the instance folder (%s; set INSTANCE_PATH or the paths in --config)"
                           % (cmd, exc))


@contextlib.contextmanager
def progress(label):
    """A progress bar on stderr for a long command; yields ``update(done, total)``.

    On a terminal it redraws in place; otherwise (CI, logs) it prints a line at most every
    tenth of the way, so a log shows the job moving without drowning in it.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not sys.stderr.isatty():
        shown = [-1]

        def update(done, total):
            step = done * 10 // total if total else 10
            if step != shown[0]:
                shown[0] = step
                print("%s: %d/%d" % (label, done, total), file=sys.stderr, flush=True)
        yield update
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=None)

        def update(done, total):
            bar.update(task, completed=done, total=total)
        yield update
