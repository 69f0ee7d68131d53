"""``cds-service``: serve, evaluate, migrate (and, from their modules, client, report, purge).

Only this module imports click. Commands parse arguments and call the library; errors
become exit codes here and nowhere else.
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
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
@click.option("--workers", default=None, type=click.IntRange(1, 64),
              help="gunicorn worker processes [default: one per CPU this process may use].")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64),
              help="Threads per worker; more only when many calls wait on a FHIR server (docs/performance.md).")
def serve(host: str, port: int, workers: int | None, threads: int) -> None:
    """Run the service on gunicorn (a production WSGI server)."""
    from .server import default_workers, run
    try:
        settings = Settings.from_env()
        run(settings, host=host, port=port, workers=workers or default_workers(), threads=threads)
    except ConfigurationError as exc:  # one line and exit 1, before any worker starts
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encounter", default=None, help="Encounter id (Bundle input; default: the current one).")
def evaluate(file: Path, encounter: str | None) -> None:
    """Print the cards for FILE: a FHIR R4 Bundle or a CDS Hooks request (JSON)."""
    from .http.body import parse_json
    from .services.bundle import answer_document
    from .services.call import CallOptions
    from .services.catalog import build_catalog
    try:
        settings = Settings.from_env()
        catalog = build_catalog(settings)
        document = parse_json(file.read_bytes())
        response = answer_document(catalog.registry, catalog.fetcher, document, encounter,
                                   budget_ms=settings.time_budget_ms, options=CallOptions.from_settings(settings))
    except (ServiceError, ConfigurationError) as exc:
        body: dict[str, Any] = exc.to_json() if isinstance(exc, ServiceError) else {"error": str(exc)}
        click.echo(json.dumps(body, indent=2), err=True)
        sys.exit(1)
    click.echo(json.dumps(response, indent=2, ensure_ascii=False))


@main.group()
def client() -> None:
    """The EHR in a box: keys, signed tokens and hook calls against a running service."""


@client.command()
@click.option("--alg", "algorithm", type=click.Choice(["ES384", "RS384"]), default="ES384", show_default=True,
              help="ES384 (like the CDS Hooks sandbox) or RS384 (like Epic).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the PRIVATE JWK (keep it secret).")
@click.option("--jwks-out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the public JWKS for the service's trust file.")
@click.option("--kid", default=None, help="Key id (default: a random UUID).")
def keygen(algorithm: str, out: Path, jwks_out: Path | None, kid: str | None) -> None:
    """Generate a signing key pair: private JWK to --out, public JWKS to --jwks-out."""
    from .client import generate_key, public_jwks
    key = generate_key(algorithm, kid)
    out.write_text(json.dumps(key, indent=2) + "\n", encoding="utf-8")
    out.chmod(0o600)
    if jwks_out is not None:
        jwks_out.write_text(json.dumps(public_jwks([key]), indent=2) + "\n", encoding="utf-8")
    click.echo(f"kid {key['kid']} ({algorithm}): private key {out}"
               + (f", public JWKS {jwks_out}" if jwks_out else ""))


def _client_options(command: Any) -> Any:
    options = [
        click.option("--key", "key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     required=True, help="Private JWK written by `keygen`."),
        click.option("--iss", "issuer", required=True, help="Issuer (must be in the service's trust file)."),
        click.option("--jku", default=None, help="JWKS URL put in the token header (must be allowlisted)."),
        click.option("--style", type=click.Choice(["sandbox", "epic"]), default="sandbox", show_default=True,
                     help="sandbox: 5-min expiry; epic: nbf 5 min before iat, 15-min expiry."),
        click.option("--tenant", default=None, help="tenant claim."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@client.command()
@_client_options
@click.option("--aud", required=True, help="The exact service URL the token is for.")
def token(key_path: Path, issuer: str, jku: str | None, style: str, tenant: str | None, aud: str) -> None:
    """Print a signed JWT (for curl)."""
    from .client import load_key, sign_token
    click.echo(sign_token(load_key(key_path), issuer, aud, style=style, jku=jku, tenant=tenant))


@client.command()
@_client_options
@click.option("--url", required=True, help="Service URL, e.g. http://127.0.0.1:8080/cds-services/leg-weakness.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def send(key_path: Path, issuer: str, jku: str | None, style: str, tenant: str | None, url: str,
         file: Path) -> None:
    """Send FILE (a hook request, or a FHIR Bundle wrapped into a request for the service named by
    --url, its hook and prefetch read from the server's discovery) and print the answer."""
    import httpx

    from .client import discovery_entry, hook_request, load_key, sign_token
    from .client import send as send_request
    from .http.body import parse_json
    try:
        document = parse_json(file.read_bytes())
        is_bundle = isinstance(document, dict) and document.get("resourceType") == "Bundle"
        body = hook_request(document, discovery_entry(url) if is_bundle else None)
        signed = sign_token(load_key(key_path), issuer, url, style=style, jku=jku, tenant=tenant)
        response = send_request(url, body, signed)
    except (ValueError, ServiceError, httpx.HTTPError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"HTTP {response.status_code}", err=True)
    try:
        click.echo(json.dumps(response.json(), indent=2, ensure_ascii=False))
    except ValueError:
        click.echo(response.text)
    if response.status_code >= 400:
        sys.exit(1)


def _storage() -> Any:
    """The configured database with its schema in place.

    SQLite is migrated here (so a report on a fresh install prints zeros); a shared
    PostgreSQL database must have been migrated by ``cds-service migrate``.
    """
    from .storage import Storage
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    storage = Storage(settings.effective_database_url)
    if storage.migrates_at_start:
        storage.migrate()
    else:
        status = storage.schema_status()
        if not status.ready:
            storage.close()
            raise click.ClickException(status.reason)
    return storage, settings


def _utc_date(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """--since: a UTC date (2026-11-01) or date-time (2026-11-01T08:00:00); errors give examples."""
    if value is None:
        return None
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"):
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    raise click.BadParameter(f"{value!r} is not a date such as 2026-11-01 or a date-time such as "
                             "2026-11-01T08:00:00 (UTC)")


@main.command()
@click.option("--check", is_flag=True,
              help="Change nothing: exit 0 when the schema is at this release's head (or newer), else 1.")
def migrate(check: bool) -> None:
    """Bring the database (CDS_DATABASE_URL) to this release's schema; run once per deployment.

    Safe to run twice or from two jobs at once (PostgreSQL advisory lock). ``serve`` never
    migrates a PostgreSQL database: run this first (an init job), then start the instances.
    """
    from .storage import Storage
    try:
        settings = Settings.from_env()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from None
    storage = Storage(settings.effective_database_url)
    try:
        before = storage.schema_status()
        if before.state == "unreachable":
            raise click.ClickException(before.reason)
        if check:
            click.echo(f"schema {before.state}: database {before.revision or 'empty'}, release {before.head}")
            sys.exit(0 if before.ready else 1)
        if before.state == "ahead":
            click.echo(f"nothing to do: {before.reason}")
            return
        storage.migrate()
        after = storage.schema_status()
    finally:
        storage.close()
    click.echo(f"schema at {after.revision} (was {before.revision or 'empty'})")


@main.command()
@click.option("--since", default=None, metavar="DATE", callback=_utc_date,
              help="Only calls and cards from this UTC date on: 2026-11-01, or a date-time such as "
                   "2026-11-01T08:00:00. Default: everything recorded.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table",
              show_default=True, help="html: one self-contained page with charts (needs the 'report' extra).")
@click.option("--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), default=None,
              help="Write the report to this file instead of standard output.")
def report(since: datetime | None, fmt: str, out: Path | None) -> None:
    """Cards shown, accepted and overridden per topic; hook volume, 412s, overruns and latency.

    \b
    Examples:
      cds-service report --since 2026-11-01
      cds-service report --since 2026-11-01T08:00:00 --format csv
      cds-service report --format html --out report.html
    """
    from .storage.report import render
    storage, _ = _storage()
    try:
        result = storage.report(since)
        if fmt == "html":
            from .storage.report_html import render_html
            try:
                text = render_html(result, storage.trends(since))
            except ConfigurationError as exc:
                raise click.ClickException(str(exc)) from None
        else:
            text = render(result, fmt)
    finally:
        storage.close()
    if out is None:
        click.echo(text)
    else:
        out.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")
        click.echo(f"wrote {out}", err=True)


@main.command()
@click.option("--days", type=click.IntRange(min=0), default=None, metavar="N",
              help="Keep the last N days (default: CDS_AUDIT_RETENTION_DAYS); --days 0 deletes everything.")
def purge(days: int | None) -> None:
    """Delete audit rows (hook calls and their cards) and feedback older than the retention period."""
    storage, settings = _storage()
    try:
        result = storage.purge(settings.audit_retention_days if days is None else days)
    finally:
        storage.close()
    click.echo(f"deleted {result.hook_calls} hook calls, {result.cards} cards and {result.feedback} "
               f"feedback items recorded before {result.cutoff.isoformat(timespec='seconds')}")


@main.command()
@click.argument("directory", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--show-failures/--no-show-failures", default=True, show_default=True,
              help="List every vignette that missed an expectation.")
def corpus(directory: Path | None, show_failures: bool) -> None:
    """Score the packaged service on the vignette corpus in DIRECTORY (default: its bundled one).

    Prints TP FP FN TN, sensitivity and specificity per card topic, and the count of
    critical cards no vignette expected; exits 1 when any red-flag topic has
    sensitivity below 1.0 (a missed emergency).
    """
    from .services.catalog import default_services
    from .services.corpus import Vocabulary, format_scores, load_corpus, score_corpus
    from .services.engine import ClinicalRuleService
    try:
        service = next(s for s in default_services(Settings.from_env()) if isinstance(s, ClinicalRuleService))
        vignettes = load_corpus(directory if directory is not None else service.folder / "corpus",
                                Vocabulary.of(service))
        report = score_corpus(vignettes, service)
    except (ServiceError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(format_scores(report.scores))
    click.echo(f"\n{len(vignettes)} vignettes, {len(report.failed)} with a missed expectation, "
               f"{report.unwarranted_critical} unwarranted critical cards")
    if show_failures:
        for outcome in report.failed:
            click.echo(f"  {outcome.vignette.id}: {'; '.join(outcome.failures)}")
    missed = report.missed_red_flags()
    if missed:
        click.echo("red-flag sensitivity below 1.0: " + ", ".join(s.topic for s in missed), err=True)
        sys.exit(1)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def assertions(file: Path, fmt: str) -> None:
    """Score the assertion component on FILE: sentences annotated in the NegEx/ConText test-set
    format (tab-separated, a header line; id, condition, sentence, negation[, temporality[,
    experiencer]]). Prints precision, recall, F1, accuracy and confusion counts per attribute.
    """
    from .clinical.assertion import load_assertion_engine
    from .clinical.benchmark import AnnotationFormatError, read_annotations, render, score_assertions
    try:
        rows = read_annotations(file)
        scores = score_assertions(load_assertion_engine(), rows)
    except (AnnotationFormatError, ConfigurationError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(render(scores, fmt))
