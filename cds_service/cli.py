"""``cds-service``: serve, evaluate (and, from their modules, client, report, purge).

Only this module imports click. Commands parse arguments and call the library; errors
become exit codes here and nowhere else.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from .errors import ConfigurationError, ServiceError
from .settings import Settings


@click.group()
@click.version_option(package_name="cds-service")
def main() -> None:
    """CDS Hooks 2.0 service for leg weakness."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="TCP port.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker (requests waiting on a FHIR server do not block others).")
def serve(host: str, port: int, workers: int, threads: int) -> None:
    """Run the service on gunicorn (a production WSGI server)."""
    from .server import run
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    run(settings, host=host, port=port, workers=workers, threads=threads)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encounter", default=None, help="Encounter id (Bundle input; default: the current one).")
def evaluate(file: Path, encounter: str | None) -> None:
    """Print the cards for FILE: a FHIR R4 Bundle or a CDS Hooks request (JSON)."""
    from .http.body import parse_json
    from .services.offline import evaluate_document
    try:
        document = parse_json(file.read_bytes())
        response = evaluate_document(document, encounter, Settings.from_env())
    except (ServiceError, ConfigurationError) as exc:
        body: dict[str, Any] = exc.to_json() if isinstance(exc, ServiceError) else {"error": str(exc)}
        click.echo(json.dumps(body, indent=2), err=True)
        sys.exit(1)
    click.echo(json.dumps(response, indent=2, ensure_ascii=False))
