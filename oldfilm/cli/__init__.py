"""The command line: the one place where exceptions become messages and exit codes.

Exit codes: 0 done; 1 processing failed (ffmpeg, model, disk); 2 bad command line or input;
130 interrupted (Ctrl-C); 143 terminated (SIGTERM: kill, systemd, a scheduler), cleaned up as
after Ctrl-C. Set OLDFILM_DEBUG=1 to see tracebacks.

Commands are listed in :mod:`oldfilm.commands` and imported only when run, so ``oldfilm --help``
and ``--version`` answer at once (torch is imported by the commands that need it).
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

import click

from .. import __version__
from ..commands import COMMANDS
from ..errors import OldfilmError


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that everything unwinds as after Ctrl-C."""


def _terminate(signum, frame):
    raise Terminated()


@contextlib.contextmanager
def _sigterm_unwinds():
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


class OldfilmGroup(click.Group):
    """Loads commands from the table on demand; turns every known error into one line and an
    exit code, Ctrl-C into exit 130."""

    def list_commands(self, ctx):
        return list(COMMANDS)

    def get_command(self, ctx, name):
        return COMMANDS[name].module.command if name in COMMANDS else None

    def format_commands(self, ctx, formatter):
        with formatter.section("Commands"):
            formatter.write_dl([(c.name, c.summary) for c in COMMANDS.values()])

    def invoke(self, ctx: click.Context):
        try:
            with _sigterm_unwinds():
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except OldfilmError as e:
            if os.environ.get("OLDFILM_DEBUG"):
                raise
            click.echo(f"oldfilm: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except BrokenPipeError:   # output piped into `head` and the like
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except KeyboardInterrupt as e:
            what, code = ("terminated", 143) if isinstance(e, Terminated) else ("interrupted", 130)
            click.echo(f"\noldfilm: {what}; no partial output was left", err=True)
            ctx.exit(code)
        except Exception as e:
            if os.environ.get("OLDFILM_DEBUG"):
                raise
            click.echo(f"oldfilm: unexpected error: {type(e).__name__}: {e} "
                       "(run again with OLDFILM_DEBUG=1 for the traceback, and please report it)", err=True)
            ctx.exit(1)


@click.group(cls=OldfilmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="oldfilm")
def cli():
    """Bring old black-and-white films back to life.

    \b
    Examples:
      oldfilm colorize movie.mp4               # writes movie.colorized.mp4, sound kept
      oldfilm colorize a.mkv b.avi -o done/    # several films into a folder
      oldfilm colorize movie.mp4 --no-stabilize  # per-frame colour, to compare
      oldfilm stabilize other.mp4 --source movie.mp4   # de-flicker anyone's per-frame output
      oldfilm eval movie.colorized.mp4 --source movie.mp4  # flicker and colour scores
      oldfilm info movie.mp4                   # what a film holds
      oldfilm models                           # installed models and their scores
    """


def main() -> None:
    cli(prog_name="oldfilm")
