"""The ``leitstand`` command line: serve, worker, migrate, users, tokens, channels, triage."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import make_engine, make_sessionmaker, unit_of_work
from app.errors import DomainError
from app.settings import Settings, get_settings

T = TypeVar("T")

cli = typer.Typer(no_args_is_help=True, help="Leitstand: crisis-management and community inbox.")
user_cli = typer.Typer(no_args_is_help=True, help="Manage users.")
token_cli = typer.Typer(no_args_is_help=True, help="Manage API tokens.")
channel_cli = typer.Typer(no_args_is_help=True, help="Manage channels.")
cli.add_typer(user_cli, name="user")
cli.add_typer(token_cli, name="token")
cli.add_typer(channel_cli, name="channel")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the created object as JSON.")]


def _run_in_session(work: Callable[[AsyncSession, Settings], Awaitable[T]]) -> T:
    settings = get_settings()

    async def main() -> T:
        engine = make_engine(settings.database_url)
        try:
            async with unit_of_work(make_sessionmaker(engine)) as session:
                return await work(session, settings)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except DomainError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=2) from None


def _print(obj: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    if as_json:
        typer.echo(json.dumps(obj, default=str))
    else:
        for line in lines:
            typer.echo(line)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    run_migrations: Annotated[
        bool,
        typer.Option(
            "--migrate",
            help="First bring the schema up to date and create the first admin if there are "
            "no users (what `migrate` and `bootstrap` do); for a single process such as the "
            "container. With several processes, run `migrate` once instead.",
        ),
    ] = False,
) -> None:
    """API, dashboard, worker and scheduler in one process."""
    import uvicorn

    from app.main import create_app

    if run_migrations:
        migrate()
        bootstrap()
    settings = get_settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=False,
    )


@cli.command()
def worker() -> None:
    """A worker alone (queue consumer and sweeper), for scale-out next to `serve`."""
    from app.main import close_triager, load_default_triager
    from app.services import Services

    settings = get_settings()

    async def main() -> None:
        triager = (
            await asyncio.to_thread(load_default_triager, settings)
            if settings.triage_enabled
            else None
        )
        services = Services.build(settings, triager=triager)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await services.start()
        services.start_background()
        typer.echo("worker running; Ctrl-C stops it", err=True)
        await stop.wait()
        await services.close()
        if triager is not None:
            await asyncio.to_thread(close_triager, triager)

    from app.logging import configure_logging

    configure_logging(settings.log_level, json=settings.log_json)
    asyncio.run(main())


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from app.migrate import upgrade

    upgrade(get_settings().database_url)
    typer.echo("database is up to date")


@cli.command()
def bootstrap(json_output: JsonFlag = False) -> None:
    """Create the first admin when there are no users yet (password printed once)."""
    from people.models import Role, User
    from people.service import create_user, generate_password

    async def work(session: AsyncSession, settings: Settings) -> dict[str, Any] | None:
        if (await session.execute(select(func.count()).select_from(User))).scalar_one():
            return None
        given = settings.admin_password.get_secret_value() if settings.admin_password else None
        password = given or generate_password()
        user = await create_user(
            session, email=settings.admin_email, password=password, role=Role.admin
        )
        return {"id": user.id, "email": user.email, "password": None if given else password}

    created = _run_in_session(work)
    if created is None:
        _print({}, json_output, ["users exist already; nothing to do"])
        return
    lines = [f"created admin {created['email']}"]
    if created["password"]:
        lines.append(f"password: {created['password']}  (shown once; change it after signing in)")
    _print(created, json_output, lines)


@user_cli.command("create")
def user_create(
    email: str,
    role: Annotated[str, typer.Option(help="agent, pr or admin")] = "agent",
    team: Annotated[list[str] | None, typer.Option(help="Team name; repeat for several.")] = None,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    json_output: JsonFlag = False,
) -> None:
    """Create a user. The password is read from stdin, or generated and printed."""
    from people.models import Role
    from people.service import create_user, generate_password

    try:
        role_value = Role(role)
    except ValueError:
        typer.echo("error: --role must be agent, pr or admin", err=True)
        raise typer.Exit(code=2) from None
    given = None if sys.stdin.isatty() else sys.stdin.readline().strip()
    password = given or generate_password()

    async def work(session: AsyncSession, _: Settings) -> dict[str, Any]:
        user = await create_user(
            session,
            email=email,
            password=password,
            role=role_value,
            display_name=name,
            team_names=team or [],
        )
        return {"id": user.id, "email": user.email, "role": user.role, "teams": team or []}

    created = _run_in_session(work)
    if not given:
        created["password"] = password
    lines = [f"created {created['role']} {created['email']} (id {created['id']})"]
    if not given:
        lines.append(f"password: {password}")
    _print(created, json_output, lines)


@token_cli.command("create")
def token_create(
    email: str,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "cli",
    json_output: JsonFlag = False,
) -> None:
    """Print a new API token for a user."""
    from people.models import TokenKind
    from people.service import get_user_by_email, issue_token

    async def work(session: AsyncSession, _: Settings) -> dict[str, Any]:
        user = await get_user_by_email(session, email=email)
        token, row = await issue_token(session, user=user, kind=TokenKind.api, name=name)
        return {"id": row.id, "token": token, "user_id": user.id}

    created = _run_in_session(work)
    _print(created, json_output, [created["token"]])


@channel_cli.command("create")
def channel_create(
    platform: Annotated[str, typer.Option(help="facebook, instagram, ..., standard-webhooks")],
    name: Annotated[str, typer.Option(help="A name people recognise.")],
    secret: Annotated[str | None, typer.Option(help="The platform's signing secret.")] = None,
    verify_token: Annotated[
        str | None, typer.Option("--verify-token", help="Token for the GET handshake.")
    ] = None,
    credential: Annotated[
        list[str] | None,
        typer.Option(
            "--credential",
            help="An outbound credential for replies, KEY=VALUE (page_access_token=..., "
            "bot_token=..., from_address=...); repeat for several.",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Create a channel and print its webhook URL and what to enter in the platform console."""
    from inbox.channels import create_channel, webhook_url
    from inbox.console import console_instructions

    credentials: dict[str, str] = {}
    for item in credential or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            # The value may be a secret: never echo it back.
            typer.echo("error: --credential takes KEY=VALUE", err=True)
            raise typer.Exit(code=2)
        credentials[key.strip()] = value

    async def work(session: AsyncSession, settings: Settings) -> dict[str, Any]:
        channel = await create_channel(
            session,
            platform=platform,
            name=name,
            secret=secret,
            verify_token=verify_token,
            outbound_credentials=credentials,
        )
        url = webhook_url(settings.base_url, channel.id)
        return {
            "id": channel.id,
            "platform": channel.platform,
            "name": channel.name,
            "webhook_url": url,
            "secret": channel.secret,
            "verify_token": channel.verify_token,
            "outbound_credential_keys": sorted(credentials),
            "console": console_instructions(
                channel.platform,
                webhook_url=url,
                secret=channel.secret,
                verify_token=channel.verify_token,
                outbound_keys=credentials.keys(),
                channel_id=channel.id,
            ),
        }

    created = _run_in_session(work)
    lines = [
        f"channel {created['id']} ({created['platform']}: {created['name']})",
        f"webhook URL: {created['webhook_url']}",
    ]
    if created["verify_token"]:
        lines.append(f"verify token: {created['verify_token']}")
    if created["secret"]:
        lines.append(f"signing secret: {created['secret']}")
    lines += ["", "What to enter in the platform's console:", *created["console"]]
    _print(created, json_output, lines)


@cli.command()
def demo(
    url: Annotated[str | None, typer.Option(help="The running service (default: its URL).")] = None,
    pause: Annotated[float, typer.Option(help="Seconds between everyday messages.")] = 0.2,
    shitstorm: Annotated[int, typer.Option(help="Comments in the shitstorm.")] = 40,
) -> None:
    """Replay realistic traffic (German and English, a shitstorm, a critical message)
    through the real webhook endpoints of a running service."""
    from inbox.demo import ensure_demo_channels, replay

    channels = _run_in_session(lambda session, _: ensure_demo_channels(session))
    base_url = url or f"http://{get_settings().host}:{get_settings().port}"
    counts = asyncio.run(
        replay(base_url, channels, pause_s=pause, shitstorm_size=shitstorm, echo=typer.echo)
    )
    typer.echo(f"sent {sum(counts.values())} deliveries to {base_url}: {counts}")


def _mount_triage() -> None:
    try:
        from triage.cli import train, triage_app
        from triage.data import DEFAULT_DATA_DIR
    except ImportError:  # the triage package is optional in a slim install
        return

    @triage_app.command("export-corrections")
    def export_corrections_cmd(
        out: Annotated[Path, typer.Option(help="JSON lines file to write")],
    ) -> None:
        """Write the agents' triage corrections from the database, for `train --corrections`."""
        count = _export_corrections(out)
        typer.echo(f"{count} corrections written to {out}", err=True)

    @triage_app.command("retrain")
    def retrain(
        out_dir: Annotated[
            Path | None, typer.Option(help="where to write the artifact (default: bundled)")
        ] = None,
        seed: Annotated[int, typer.Option(help="random seed (split and training)")] = 13,
        json_out: Annotated[bool, typer.Option("--json", help="print metrics as JSON")] = False,
    ) -> None:
        """Retrain on the public data plus every correction agents made, and report metrics."""
        with tempfile.TemporaryDirectory() as tmp:
            corrections = Path(tmp) / "corrections.jsonl"
            count = _export_corrections(corrections)
            typer.echo(f"training with {count} agent corrections", err=True)
            train(
                corrections=corrections if count else None,
                out_dir=out_dir,
                seed=seed,
                json_out=json_out,
                data_dir=DEFAULT_DATA_DIR,
            )

    cli.add_typer(triage_app, name="triage", help="Score, train and evaluate the triage model.")


def _export_corrections(out: Path) -> int:
    from inbox.notes import triage_corrections

    rows = _run_in_session(lambda session, _: triage_corrections(session))
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return len(rows)


_mount_triage()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
