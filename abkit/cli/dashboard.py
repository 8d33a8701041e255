"""`abkit dashboard`: start the Dash dashboard on an event database."""

from __future__ import annotations

import click


@click.command()
@click.option("--db", "database", required=True, help="Event database: a SQLite path or a SQLAlchemy URL.")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind. Anything but loopback requires a login."
)
@click.option("--port", default=8050, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option(
    "--password-file",
    type=click.Path(dir_okay=False),
    help="File whose first line is the login password (else $ABKIT_DASHBOARD_PASSWORD). "
    "User: $ABKIT_DASHBOARD_USER or 'abkit'.",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Write one line per request (Common Log Format) to stderr.",
)
@click.option(
    "--trusted-proxy",
    metavar="ADDRESS",
    help="Address of the reverse proxy in front (e.g. 127.0.0.1): believe its X-Forwarded-For/-Proto/-Host headers.",
)
def dashboard(
    database: str, host: str, port: int, password_file: str | None, access_log: bool, trusted_proxy: str | None
) -> None:
    """Start the Dash dashboard on DB (read-only), reading stored report snapshots.

    Served by waitress (a production WSGI server). Bound to 127.0.0.1 by default; on any
    other address every request needs HTTP basic auth. Put TLS in a reverse proxy in front.
    """
    from abkit.cli.extras import requires_extra

    with requires_extra("dashboard", "dashboard"):
        from dashboards.app import create_app  # (not the package root: works under a stale editable install too)
        from dashboards.auth import is_loopback, load_credentials
        from dashboards.server import serve

    credentials = None
    if password_file is not None or not is_loopback(host):
        try:
            credentials = load_credentials(password_file)
        except ValueError as error:
            raise click.UsageError(str(error)) from None
    app = create_app(database, credentials=credentials)
    shown_host = f"[{host}]" if ":" in host else host
    login = f" (login: user {credentials.user})" if credentials else ""
    click.echo(f"abkit dashboard: http://{shown_host}:{port}/{login}", err=True)
    serve(app.server, host, port, access_log=access_log, trusted_proxy=trusted_proxy)
