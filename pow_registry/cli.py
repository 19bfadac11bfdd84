"""The `pow-registry` command (also `flask --app pow_registry ...`). See contract.md.

Exit status 0 on success, non-zero on any error with the reason on stderr.
"""

from __future__ import annotations

import getpass
import ipaddress
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from pow_registry import config, db


def _fail(message: str, code: int = 1) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def _session():  # type: ignore[no-untyped-def]
    """The command's session: it matches what it writes before it returns (an operator's command
    ends with its work done, whether or not a worker runs)."""
    from pow_registry import db
    from pow_registry.services import matching

    return matching.match_inline(db.session())


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create or migrate the database to the current schema."""
    from pow_registry.migrations_runner import upgrade
    from pow_registry.services import audit

    _write_server_keys()
    upgrade(current_app.config["DATABASE_URL"], contact_crypto=current_app.extensions["pow_registry.contact_crypto"],
            audit_key=current_app.config["AUDIT_KEY_BYTES"])
    click.echo("Database is at the current schema.")
    report = audit.verify_chain(_session(), key=current_app.config["AUDIT_KEY_BYTES"])
    if not report.ok:
        click.echo(f"WARNING: the audit chain does not verify: {report.problem}. "
                   "See `pow-registry audit verify`.", err=True)
    elif report.events_checked:
        click.echo(f"Audit chain intact: {report.events_checked} events. Keep an anchor of it outside the database "
                   "(`pow-registry audit anchor`).")


def _keys_in_use() -> dict[str, bool]:
    """Whether the database already holds something made with AUDIT_KEY (audit events) or with
    ACCESS_CODE_KEY (inquiries, whose access codes are stored as HMACs with it)."""
    from sqlalchemy import inspect, text

    engine = current_app.extensions["pow_registry.engine"]
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        def any_row(*names: str) -> bool:
            return any(conn.execute(text(f"SELECT 1 FROM {name} LIMIT 1")).first() is not None  # noqa: S608 - fixed names
                       for name in names if name in tables)

        return {"AUDIT_KEY": any_row("audit_event"), "ACCESS_CODE_KEY": any_row("inquiry", "code_display")}


def _write_server_keys() -> None:
    """AUDIT_KEY and ACCESS_CODE_KEY into instance/config.py when neither the environment nor the
    file has them: random on a new instance; on one that already used them, the values it derived
    from SECRET_KEY (its audit chain and access codes depend on them), written down so that
    SECRET_KEY can rotate without breaking either."""
    import os

    missing = [name for name in config.SERVER_KEYS if not current_app.config.get(name)]
    if not missing:
        return
    in_use = _keys_in_use()
    secret = str(current_app.config.get("SECRET_KEY") or "")
    values: dict[str, bytes | str] = {
        name: config.derived_key(secret, name) if in_use[name] else config.random_server_key() for name in missing}
    instance = Path(current_app.instance_path)
    written = config.ensure_instance_server_keys(instance, values)
    for name in written:
        current_app.config[name] = values[name]
        current_app.config[f"{name}_BYTES"] = config.server_key(current_app.config, name)
    derived = [name for name in written if in_use[name]]
    fresh = [name for name in written if not in_use[name]]
    target = instance / "config.py"
    if derived:
        click.echo(f"Wrote {' and '.join(derived)} to {target} with the values this instance has derived from "
                   "SECRET_KEY until now (its audit chain and families' access codes depend on them): SECRET_KEY "
                   "can now be rotated without breaking them. Back them up apart from the database.")
    if fresh:
        click.echo(f"Wrote new random {' and '.join(fresh)} to {target}: back them up apart from the database; "
                   "without them the audit chain cannot be verified and families' access codes stop working.")
        if os.environ.get(config.ENV_PREFIX + "SECRET_KEY"):
            click.echo(f"SECRET_KEY comes from the environment: make sure {target} is kept (or set "
                       f"{' and '.join(config.ENV_PREFIX + name for name in fresh)} to the values in it), or the "
                       "app would fall back to keys derived from SECRET_KEY.")


@click.command("demo-data")
@with_appcontext
def demo_data_command() -> None:
    """Load the fictitious demo data set (idempotent) and print the demo logins."""
    from pow_registry.demo import DEMO_PASSWORD, load_demo_data

    summary = load_demo_data(session=_session(), audit_key=current_app.config["AUDIT_KEY_BYTES"],
                             passwords=current_app.extensions["pow_registry.passwords"],
                             access_key=current_app.config["ACCESS_CODE_KEY_BYTES"])
    click.echo(f"Demo data: {summary.persons} persons, {summary.reports} capture reports, "
               f"{summary.evidence} evidence items, {summary.inquiries} family inquiries (all fictitious).")
    click.echo(f"Demo logins (password for each: {DEMO_PASSWORD}):")
    click.echo("Two-factor sign-in: after the password, the code from an authenticator app holding the "
               "account's secret (or: python -c \"import pyotp; print(pyotp.TOTP('SECRET').now())\"):")
    for email, roles in summary.accounts:
        click.echo(f"  {email:<32} {roles:<12} secret {summary.totp_secrets.get(email, '-')}")
    for reference, code in summary.family_access:
        click.echo(f"Demo family status check: reference {reference}, access code {code}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--job-workers", default=None, type=int,
              help="Job consumer threads inside the server (default JOB_WORKERS_IN_SERVE; 0: none, run `pow-registry worker`).")
@with_appcontext
def serve_command(host: str, port: int, threads: int, job_workers: int | None) -> None:
    """Run the app under a production WSGI server (waitress).

    Behind a reverse proxy (TRUSTED_PROXIES > 0) waitress believes X-Forwarded-For/-Proto only on
    connections from TRUSTED_PROXY_ADDRESS, as many hops deep as TRUSTED_PROXIES, and drops them
    from anyone else; left to itself it drops them from everyone, and every client would have the
    proxy's address (one per-address limit for all) and plain http (no HSTS).
    """
    import os

    import waitress

    from pow_registry import security

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001
    proxies = int(app.config["TRUSTED_PROXIES"])
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if loopback and not proxies and "POW_REGISTRY_SESSION_COOKIE_SECURE" not in os.environ:
        # Plain http on this machine only: a Secure cookie would never be sent back. (Behind a
        # proxy on this machine the clients speak HTTPS to the proxy: cookies stay Secure.)
        app.config["SESSION_COOKIE_SECURE"] = False
        app.config["REMEMBER_COOKIE_SECURE"] = False
    if not app.config.get("ORGANISATION_NAME") or not app.config.get("ORGANISATION_CONTACT"):
        click.echo("Warning: POW_REGISTRY_ORGANISATION_NAME or POW_REGISTRY_ORGANISATION_CONTACT is not set: the "
                   "family pages cannot say who runs this site or how to reach you.", err=True)
    options: dict[str, object] = {"clear_untrusted_proxy_headers": True}
    if proxies:
        # waitress does the proxy's job itself: the app's own middleware must not do it again.
        security.without_proxy_middleware(app)
        proxy = str(app.config["TRUSTED_PROXY_ADDRESS"]).strip()
        options.update(trusted_proxy=proxy, trusted_proxy_count=proxies,
                       trusted_proxy_headers=set(security.PROXY_HEADERS))
        click.echo(f"Trusting X-Forwarded-For/-Proto from {proxy} ({proxies} proxy hop(s)).")
    from pow_registry import observability

    observability.configure_logging(str(app.config["LOG_LEVEL"]), str(app.config["LOG_FORMAT"]))
    # waitress's own warnings (a full queue, a dropped connection) go to the same log.
    observability.configure_logging(str(app.config["LOG_LEVEL"]), str(app.config["LOG_FORMAT"]), logger="waitress")
    # Idle keep-alive connections are closed after SERVE_CHANNEL_TIMEOUT_SECONDS, and up to
    # SERVE_CONNECTION_LIMIT are accepted (waitress's default of 100 let 120 idle ones starve /healthz).
    options.update(connection_limit=int(app.config["SERVE_CONNECTION_LIMIT"]),
                   channel_timeout=int(app.config["SERVE_CHANNEL_TIMEOUT_SECONDS"]))
    click.echo(f"pow_registry is serving on http://{host}:{port}/  (Ctrl+C stops it)")
    from pow_registry import worker

    consumers = int(app.config["JOB_WORKERS_IN_SERVE"] if job_workers is None else job_workers)
    in_process = worker.queue(app).start_in_process(consumers) if consumers > 0 else None
    if in_process is not None:
        click.echo(f"Running jobs in this process ({consumers} thread(s)); `pow-registry worker` can run them instead.")
    try:
        waitress.serve(app, host=host, port=port, threads=threads, ident="pow_registry", **options)
    finally:
        if in_process is not None:
            in_process.stop(graceful=False)  # a job cut short is run again by the next worker


@click.command("worker")
@click.option("--threads", default=1, show_default=True, type=int, help="Jobs run at the same time.")
@with_appcontext
def worker_command(threads: int) -> None:
    """Run the jobs (imports started on the web pages) until stopped.

    Ctrl+C (SIGINT) lets the running job finish, a second one stops at once; SIGTERM stops at
    once. A job cut short wrote nothing, and runs again when a worker starts."""
    from pow_registry import observability, worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]  # noqa: SLF001
    # The same log as `serve`'s (JSON lines unless LOG_FORMAT=text), huey's own lines included.
    for name in ("pow_registry", "huey"):
        observability.configure_logging(str(app.config["LOG_LEVEL"]), str(app.config["LOG_FORMAT"]), logger=name)
    queue = worker.queue(app)
    where = "the embedded queue in " + str(worker.jobs_dir(app)) if queue.embedded else "the Redis queue"
    click.echo(f"pow_registry worker: {threads} thread(s) on {where} (Ctrl+C stops it).")
    queue.run_forever(threads)


@click.group("users")
def users_group() -> None:
    """Manage accounts."""


@users_group.command("create")
@click.argument("email")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["admin", "researcher", "staff"]), help="Repeat for several roles.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--name", default="", help="Display name.")
@click.option("--totp", is_flag=True, help="Turn two-factor sign-in on and print the secret (for an authenticator app or a script).")
@with_appcontext
def users_create_command(email: str, roles: tuple[str, ...], password_stdin: bool, name: str, totp: bool) -> None:
    """Add an account (with --totp: two-factor sign-in on, its secret printed)."""
    from pow_registry.services import accounts
    from pow_registry.services.errors import FieldErrors

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            _fail("The passwords differ.")
    else:
        _fail("Give --password-stdin, or run this in a terminal to be asked for the password.")
    try:
        user = accounts.create_user(session=_session(), actor=None, audit_key=current_app.config["AUDIT_KEY_BYTES"],
                                    passwords=current_app.extensions["pow_registry.passwords"],
                                    policy=accounts.PasswordPolicy(current_app.config["PASSWORD_MIN_LENGTH"],
                                                                   current_app.config["PASSWORD_MAX_LENGTH"]),
                                    email=email, password=password, roles=list(roles), display_name=name)
    except FieldErrors as exc:
        _fail("; ".join(f"{k}: {v}" for k, v in exc.errors.items()))
    click.echo(f"Created {accounts.normalise_email(email)} ({', '.join(sorted(roles))}).")
    if totp:
        from pow_registry.services import audit, two_factor

        secret = two_factor.new_secret()
        two_factor.enrol_with_secret(_session(), user, secret)
        audit.record(_session(), key=current_app.config["AUDIT_KEY_BYTES"], actor=None, action="user.two_factor",
                     entity_type="user", entity_id=user.id, changes={"two_factor": [False, True]})
        _session().commit()
        click.echo(f"Two-factor secret: {secret}")
        click.echo(f"Authenticator link: {two_factor.provisioning_uri(secret, user.email)}")


@click.group("tokens")
def tokens_group() -> None:
    """API tokens."""


@tokens_group.command("create")
@click.argument("email")
@with_appcontext
def tokens_create_command(email: str) -> None:
    """Print a new API token for that account (the previous one stops working)."""
    from pow_registry.services import accounts

    user = accounts.get_by_email(_session(), email)
    if user is None or not user.is_active:
        _fail(f"No active account {email}.")
    assert user is not None
    click.echo(accounts.issue_api_token(session=_session(), actor=None,
                                        audit_key=current_app.config["AUDIT_KEY_BYTES"], user=user))


@click.group("import")
def import_group() -> None:
    """Import spreadsheets (all or nothing)."""


@import_group.command("captures")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report, write nothing.")
@click.option("--user", "user_email", default=None, help="Attribute the import to this researcher account.")
@with_appcontext
def import_captures_command(file: Path, dry_run: bool, user_email: str | None) -> None:
    """Import persons, capture reports and evidence from .xlsx or .csv."""
    from pow_registry.services import accounts, imports

    session = _session()
    key = current_app.config["AUDIT_KEY_BYTES"]
    if user_email:
        actor = accounts.get_by_email(session, user_email)
        if actor is None or not actor.is_active:
            _fail(f"No active account {user_email}.")
    else:
        # A dry run writes nothing, not even the command line's own account.
        actor = imports.system_actor(session, audit_key=key, create=not dry_run)
    assert actor is not None
    max_bytes = current_app.config["IMPORT_MAX_BYTES"]
    if file.stat().st_size > max_bytes:
        _fail(f"{file}: the file is too large (at most {max_bytes // 1_000_000} MB).")
    report = imports.import_captures(session=session, actor=actor, audit_key=key, data=file.read_bytes(),
                                     filename=file.name, dry_run=dry_run, max_bytes=max_bytes)
    print_import_report(report)
    if not report.ok:
        sys.exit(1)


def print_import_report(report, kind: str = "captures") -> None:  # type: ignore[no-untyped-def]
    for error in report.errors:
        where = f"row {error.row}" if error.row else "file"
        column = f", column {error.column}" if error.column else ""
        click.echo(f"{where}{column}: {error.text()}", err=True)
    if report.errors:
        click.echo(f"Nothing was imported: {len(report.errors)} problem(s) found.", err=True)
        return
    verb = "would be imported" if report.dry_run else "imported"
    what = (f"{report.inquiries_created} inquiries" if kind == "inquiries"
            else f"{report.persons_created} persons, {report.evidence_created} evidence items")
    click.echo(f"{report.rows_created} row(s) {verb} ({what}); {report.rows_skipped} already imported, skipped.")


CODES_HEADER = ["source_ref", "reference", "access_code"]


def _open_codes_file(path: Path):  # type: ignore[no-untyped-def]
    """A new file only its owner can read (pow_registry.files): refused if anything is already
    there (an earlier run's codes are never overwritten, and a planted symlink is not followed)."""
    from pow_registry import files

    try:
        return files.open_new_private(path, "w", encoding="utf-8", newline="")
    except files.NewFileRefused as exc:
        _fail(f"{exc} Nothing was imported: the access codes are written to a new file only, and an earlier "
              "run's codes are never overwritten.")


@import_group.command("inquiries")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Validate and report, write nothing.")
@click.option("--user", "user_email", default=None, help="Attribute the import to this staff account.")
@click.option("--codes", "codes_path", default=None, type=click.Path(dir_okay=False, path_type=Path),
              help="New CSV file (mode 0600) for the reference and access code of every new inquiry. "
                   "Required unless --dry-run: the codes are shown only this once.")
@with_appcontext
def import_inquiries_command(file: Path, dry_run: bool, user_email: str | None, codes_path: Path | None) -> None:
    """Import family inquiries from .xlsx or .csv; each new one gets a reference and an access code."""
    import csv
    import os

    from pow_registry.domain.spreadsheet import safe_cell_text
    from pow_registry.models import Role
    from pow_registry.services import accounts, imports

    if not dry_run and codes_path is None:
        _fail("Give --codes FILE: every new inquiry gets an access code that is shown only once, and it is "
              "written to that file (readable only by you) for you to pass on to the family. "
              "Nothing was imported.")
    session = _session()
    key = current_app.config["AUDIT_KEY_BYTES"]
    if user_email:
        actor = accounts.get_by_email(session, user_email)
        if actor is None or not actor.is_active:
            _fail(f"No active account {user_email}.")
    else:
        actor = imports.system_actor(session, audit_key=key, create=not dry_run, role=Role.staff)
    assert actor is not None
    max_bytes = current_app.config["IMPORT_MAX_BYTES"]
    if file.stat().st_size > max_bytes:
        _fail(f"{file}: the file is too large (at most {max_bytes // 1_000_000} MB).")
    # Opened before importing: a file that cannot be written must not cost the codes.
    out = _open_codes_file(codes_path) if not dry_run and codes_path is not None else None
    report = None
    try:
        report = imports.import_inquiries(session=session, actor=actor, audit_key=key,
                                          access_key=current_app.config["ACCESS_CODE_KEY_BYTES"],
                                          data=file.read_bytes(), filename=file.name, dry_run=dry_run,
                                          max_bytes=max_bytes)
        if out is not None and report.ok:
            writer = csv.writer(out)
            writer.writerow(CODES_HEADER)
            for issued in report.codes:
                writer.writerow([safe_cell_text(issued.source_ref), issued.reference, issued.access_code])
    finally:
        if out is not None:
            out.close()
            if codes_path is not None and (report is None or not report.ok):
                os.unlink(codes_path)  # nothing was imported: no codes to keep
    print_import_report(report, kind="inquiries")
    if not report.ok:
        sys.exit(1)
    if out is not None:
        click.echo(f"Access codes of the {len(report.codes)} new inquiries: {codes_path} (readable only by you; "
                   "hand each code to its family, then delete the file).")


@click.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("verify")
@click.option("--anchor", "anchor_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="An anchor printed by `pow-registry audit anchor` earlier: the log must still hold its event "
                   "at its place and go on from it.")
@with_appcontext
def audit_verify_command(anchor_file: Path | None) -> None:
    """Check the audit chain (and its head, and an anchor); exit non-zero on a break."""
    from pow_registry.services import audit

    anchor = None
    if anchor_file is not None:
        try:
            anchor = audit.parse_anchor(anchor_file.read_text(encoding="utf-8", errors="replace"))
        except audit.AnchorError as exc:
            _fail(f"{anchor_file} is not an audit anchor: {exc}.")
    result = audit.verify_chain(_session(), key=current_app.config["AUDIT_KEY_BYTES"], anchor=anchor)
    if not result.ok:
        where = f" at event {result.first_bad_event_id}" if result.first_bad_event_id is not None else ""
        _fail(f"Audit chain BROKEN{where}: {result.problem} ({result.events_checked} events checked before it).", 2)
    if not result.events_checked:
        click.echo("Audit chain intact: 0 events (nothing has been recorded yet).")
        return
    click.echo(f"Audit chain intact: {result.events_checked} events.")
    if anchor is not None:
        click.echo(f"It still holds {anchor.described()} and goes on from it to event {result.last_event_id}.")


@audit_group.command("anchor")
@with_appcontext
def audit_anchor_command() -> None:
    """Print a signed anchor of the log's end (event, hash, count, time): keep it outside the
    database (mail, printout, RFC 3161 timestamp) and check the log against it later with
    `pow-registry audit verify --anchor FILE`."""
    from pow_registry.services import audit

    try:
        anchor = audit.make_anchor(_session(), key=current_app.config["AUDIT_KEY_BYTES"])
    except audit.ChainBroken as exc:
        _fail(f"Not anchored: the audit chain does not verify ({exc.report.problem}). See `pow-registry audit verify`.",
              2)
    except audit.EmptyLog:
        _fail("Not anchored: the audit log has no event yet.")
    click.echo(audit.anchor_text(anchor), nl=False)


@click.group("keys")
def keys_group() -> None:
    """Keys outside the database."""


@keys_group.command("rotate-contact-data")
@with_appcontext
def keys_rotate_contact_data_command() -> None:
    """Re-encrypt families' contact data with the first of CONTACT_DATA_KEYS (put a new key first,
    run this, then remove the old key). Running it again changes nothing."""
    from pow_registry.services import contact_data

    report = contact_data.rotate_contact_data(session=_session(), audit_key=current_app.config["AUDIT_KEY_BYTES"])
    if report.inquiries or report.phones:
        click.echo(f"Re-encrypted the contact data of {report.inquiries} inquiries and {report.phones} phone numbers "
                   f"with the first key ({report.checked} rows checked). The older keys can now be removed.")
    else:
        click.echo(f"Everything is already encrypted with the first key ({report.checked} rows checked).")


@click.group("retention")
def retention_group() -> None:
    """How long families' contact data is kept."""


@retention_group.command("run")
@click.option("--dry-run", is_flag=True, help="Say which inquiries are due, erase nothing.")
@with_appcontext
def retention_run_command(dry_run: bool) -> None:
    """Erase the contact data of inquiries closed longer than CONTACT_DATA_RETENTION_DAYS ago."""
    from pow_registry.services import contact_data

    days = int(current_app.config["CONTACT_DATA_RETENTION_DAYS"])
    done = contact_data.retention_run(session=_session(), audit_key=current_app.config["AUDIT_KEY_BYTES"],
                                      days=days, dry_run=dry_run)
    verb = "Would erase" if dry_run else "Erased"
    for item in done:
        closed = item.closed_at.date().isoformat() if item.closed_at else "?"
        click.echo(f"{verb} the contact data of {item.reference} (closed {closed}).")
    click.echo(f"{verb} the contact data of {len(done)} inquiries closed more than {days} days ago.")


@click.command("match")
@click.option("--all", "everything", is_flag=True,
              help="Count name frequencies afresh, learn the match model from the data, and re-score every record.")
@click.option("--explain-model", is_flag=True,
              help="Print the match model in use (m and u per field and level, how it was learned) and stop.")
@with_appcontext
def match_command(everything: bool, explain_model: bool) -> None:
    """Cross-reference everything new or changed; print how many candidates it found."""
    from pow_registry.services import matching

    session = _session()
    if explain_model:
        click.echo(matching.current_model(session).explain())
        return
    result = matching.match_everything(session, everything=everything)
    counts = matching.candidate_counts(session)
    click.echo(f"Matched {result.records} records: {result.new_candidates} new candidates, "
               f"{result.dropped_candidates} dropped, {result.reopened} rejected pairs reopened.")
    click.echo("Candidates to review: " + ", ".join(f"{kinds} {n}" for kinds, n in counts.items()))


@click.group("export")
def export_group() -> None:
    """Write data out for other tools."""


@export_group.command("matches")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def export_matches_command(file: Path) -> None:
    """Write the inquiry ↔ person candidate matches as CSV (columns in contract.md)."""
    import csv

    from pow_registry import files
    from pow_registry.services import matching

    rows = 0
    # The file names families' inquiries and the men they seek: a new file, readable by its owner
    # only (pow_registry.files); removed again if the export fails half-way.
    try:
        with files.new_private_file(file, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(matching.MATCHES_CSV_COLUMNS)
            for row in matching.export_rows(_session()):
                writer.writerow(row)
                rows += 1
    except files.NewFileRefused as exc:
        _fail(f"{exc} Nothing was exported.")
    click.echo(f"Wrote {rows} candidate pairs to {file}.")



@export_group.command("list")
@click.argument("list_id", type=int)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def export_list_command(list_id: int, file: Path) -> None:
    """Write a frozen exchange list as .xlsx (the same list always gives the same bytes)."""
    from pow_registry import files
    from pow_registry.services import exchange
    from pow_registry.services.errors import ServiceError

    # Names of prisoners: a new file, readable by its owner only (pow_registry.files). Made before
    # the export, so a name that is refused records nothing; removed again if the export fails.
    try:
        with files.new_private_file(file, "wb") as handle:
            try:  # attributed to the command line (no account)
                exported = exchange.export_list(session=_session(), actor=None,
                                                audit_key=current_app.config["AUDIT_KEY_BYTES"], list_id=list_id)
            except ServiceError as exc:
                reasons = "; ".join(str(m) for m in getattr(exc, "errors", {}).values())
                _fail(f"List {list_id} was not exported: {exc.message}" + (f" {reasons}" if reasons else ""))
                return
            handle.write(exported.data)
    except files.NewFileRefused as exc:
        _fail(f"{exc} List {list_id} was not exported.")
        return
    note = "recorded now" if exported.first else "the same as recorded at the first export"
    click.echo(f"Wrote {file} ({len(exported.data)} bytes), SHA-256 {exported.sha256} ({note}).")


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--verify", is_flag=True,
              help="Check the existing backup FILE instead (integrity, rows per table, audit head) without "
                   "touching the database.")
@with_appcontext
def backup_command(file: Path, verify: bool) -> None:
    """Back the whole database up into the new file FILE, consistently while the app runs (see README: Backups)."""
    from pow_registry.services import backup

    key = current_app.config["AUDIT_KEY_BYTES"]
    try:
        if verify:
            report = backup.verify_backup(file, audit_key=key)
        else:
            made = backup.create_backup(current_app.config["DATABASE_URL"], file)
    except backup.BackupError as exc:
        _fail(exc.message)
        return
    if verify:
        click.echo(f"{file}: a complete backup, taken {report.manifest.created_at}, of the {report.manifest.summary()}.")
        click.echo("Checked: " + "; ".join(report.checked) + ".")
        if report.chain is not None and not report.chain.ok:
            _fail(f"The backup's audit chain does not verify with this instance's AUDIT_KEY: {report.chain.problem} "
                  f"(event {report.chain.first_bad_event_id}).", 2)
        if report.chain is not None:
            click.echo(f"Audit chain intact: {report.chain.events_checked} events.")
        else:
            click.echo("The audit chain is walked after a restore (`pow-registry audit verify`): a PostgreSQL dump "
                       "cannot be queried where it lies.")
        return
    click.echo(f"Backed up the {made.manifest.summary()}.")
    click.echo(f"Wrote {file} ({made.bytes / 1_000_000:.1f} MB, mode 0600) in {made.seconds:.1f} s. It does not hold "
               "the keys (SECRET_KEY, AUDIT_KEY, CONTACT_DATA_KEYS, CONTACT_INDEX_KEY) or the evidence files: keep "
               "those safe apart from it.")
    for leftover in made.leftovers:
        click.echo(f"Warning: {leftover} was left by an interrupted backup; it holds an incomplete copy of the "
                   "database: delete it.", err=True)


@click.command("restore")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True,
              help="Replace a database that already holds data (everything in it is lost).")
@with_appcontext
def restore_command(file: Path, force: bool) -> None:
    """Replace the configured database with the backup FILE, all or nothing. Stop the app first."""
    from sqlmodel import Session

    from pow_registry import db
    from pow_registry.services import audit, backup

    try:
        restored = backup.restore_backup(current_app.config["DATABASE_URL"], file, force=force,
                                         progress=lambda message: click.echo(message, err=True))
    except backup.BackupError as exc:
        _fail(exc.message)
        return
    replaced = f", replacing {restored.rows_replaced} rows" if restored.rows_replaced else ""
    click.echo(f"Restored the backup taken {restored.manifest.created_at} of the {restored.manifest.summary()}"
               f"{replaced}, in {restored.seconds:.1f} s. "
               "Rows per table and audit head match the backup's manifest.")
    if restored.needs_migration:
        click.echo("The backup's schema is older than this version's: run `pow-registry init-db` before starting the app.")
    else:
        with Session(db.engine()) as session:
            chain = audit.verify_chain(session, key=current_app.config["AUDIT_KEY_BYTES"])
        if not chain.ok:
            _fail(f"The restored audit chain does not verify with this instance's AUDIT_KEY: {chain.problem} "
                  f"(event {chain.first_bad_event_id}). Is this the instance the backup came from?", 2)
        click.echo(f"Audit chain intact: {chain.events_checked} events.")


COMMANDS = [init_db_command, demo_data_command, serve_command, worker_command, users_group, tokens_group, import_group, audit_group,
            match_command, export_group, keys_group, retention_group, backup_command, restore_command]


def init_app(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _create_app():  # type: ignore[no-untyped-def]
    from pow_registry.app import create_app

    try:
        return create_app()
    except config.ConfigError as exc:
        _fail(str(exc))


def main() -> None:
    # The first `init-db` writes a random secret key (and contact-data keys) when none is configured anywhere.
    if len(sys.argv) > 1 and sys.argv[1] == "init-db":
        if config.ensure_instance_secret(config.default_instance_path()):
            click.echo(f"Wrote a new random SECRET_KEY to {config.default_instance_path() / 'config.py'}.")
        written = config.ensure_instance_contact_keys(config.default_instance_path())
        if written:
            click.echo(f"Wrote new random {' and '.join(written)} to {config.default_instance_path() / 'config.py'}: "
                       "back them up apart from the database; without them the families' contact data cannot be read.")
    group = FlaskGroup(create_app=_create_app, add_default_commands=False, add_version_option=False,
                       load_dotenv=False, set_debug_flag=False, name="pow-registry")
    try:
        group.main(prog_name="pow-registry")
    except Exception as error:  # noqa: BLE001 - only a database that is busy, full or gone is answered here
        kind = db.unavailable(error)
        if kind is None:
            raise
        _fail(UNAVAILABLE_MESSAGES[kind], code=UNAVAILABLE_EXIT_CODES[kind])


# A database that could not do the work now: what to tell the operator, and the exit status
# (sysexits.h: 75 "try again later", 74 an I/O error, 69 a service unavailable).
UNAVAILABLE_MESSAGES = {
    "busy": "The database is busy: another import or a long write holds its lock, and it did not come free in "
            "time (DATABASE_BUSY_TIMEOUT_SECONDS). Nothing was written. Try again when that work has finished.",
    "disk": "The disk is full: nothing was written, and what was saved before is intact. Free some space and "
            "try again.",
    "down": "The database cannot be reached (is it running, and is DATABASE_URL right?). Nothing was written.",
}
UNAVAILABLE_EXIT_CODES = {"busy": 75, "disk": 74, "down": 69}
