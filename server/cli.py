"""The ``myrtle-wyckoff`` command (also ``python -m server``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app", "main"]

EXIT_CONFIG = 2
EXIT_START = 1

app = typer.Typer(
    name="myrtle-wyckoff",
    help="Myrtle Wyckoff: a confidential exchange server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Myrtle Wyckoff: a confidential exchange server."""


@app.command()
def serve(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="TOML configuration file. MYRTLE_<FIELD> environment variables override it.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Recover from the journal and serve /ws, /health and /metrics until SIGINT/SIGTERM."""
    # Imported here so that `--help` stays fast and works without the server's extras.
    import ssl

    import uvloop

    from server.gateway.config import ConfigError, load_config
    from server.gateway.server import run
    from server.sequencer import RecoveryError

    try:
        settings = load_config(config)
    except ConfigError as e:
        print(f"myrtle-wyckoff: configuration error: {e}", file=sys.stderr)
        raise typer.Exit(EXIT_CONFIG) from None

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        uvloop.run(run(settings))
    except RecoveryError as e:
        print(f"myrtle-wyckoff: cannot recover from {settings.data_dir}: {e}", file=sys.stderr)
        raise typer.Exit(EXIT_START) from None
    except ssl.SSLError as e:
        print(f"myrtle-wyckoff: cannot load the TLS certificate/key: {e}", file=sys.stderr)
        raise typer.Exit(EXIT_START) from None
    except OSError as e:
        print(f"myrtle-wyckoff: cannot start: {e}", file=sys.stderr)
        raise typer.Exit(EXIT_START) from None


def main() -> None:
    app(prog_name="myrtle-wyckoff")
