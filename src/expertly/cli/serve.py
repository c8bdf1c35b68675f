"""``expertly serve`` (the HTTP API) and ``expertly keys`` (its API keys)."""

from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from expertly.cli.common import console, handle_errors, print_json, workspace
from expertly.errors import ExpertlyError, MissingDependencyError

if TYPE_CHECKING:
    from expertly.server.settings import ServerSettings

LOOPBACK_NAMES = ("localhost",)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@handle_errors
def serve(
    host: Annotated[
        str, typer.Option(help="Address to listen on. Beyond loopback, API keys must exist.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    max_body_bytes: Annotated[
        int, typer.Option(min=1, help="Largest request body accepted (413 beyond).")
    ] = 1_000_000,
    max_upload_bytes: Annotated[
        int, typer.Option(min=1, help="Largest upload to /v1/uploads (413 beyond).")
    ] = 50_000_000,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Generations run at once (one model: 1).")
    ] = 1,
    max_waiting: Annotated[
        int,
        typer.Option(min=0, help="Generation requests that may wait; more get 503 + Retry-After."),
    ] = 32,
    max_batch: Annotated[
        int,
        typer.Option(
            min=0,
            help="Most chat requests answered by one batched generation; 0: as measured per "
            "route (8 closed-book; rag/hybrid 8 on a GPU, 1 on a CPU); 1: no batching.",
        ),
    ] = 0,
    batch_window_ms: Annotated[
        float,
        typer.Option(min=0, help="How long a request waits for others to batch with."),
    ] = 10.0,
    rate_per_minute: Annotated[
        float,
        typer.Option(min=0, help="Requests per minute per API key after the burst (0: no limit)."),
    ] = 120.0,
    burst: Annotated[int, typer.Option(min=1, help="Requests a key may send at once.")] = 20,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes on the port, each with its own copy of the models; keys, "
            "jobs, rate limits and metrics are shared (docs/server.md).",
        ),
    ] = 1,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin", metavar="ORIGIN", help="Allow this browser origin (repeat); none."
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            exists=True,
            help="The compare report the web UI opens: a report.html or the --out folder of "
            "`expertly compare` (default: the newest report.html in the workspace or a folder "
            "in it).",
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the URL, workspace and whether keys are required as one JSON line on "
            "stdout before starting (logs are JSON lines on stderr either way).",
        ),
    ] = False,
) -> None:
    """Serve the workspace over HTTP: an OpenAI-compatible API with citations.

    The web UI is at / (sign in with a key; chat with citations, documents, the compare
    report). Endpoints: /v1/chat/completions (model = route: expertly-rag, expertly-auto,
    ...), /v1/models, /v1/embeddings, /v1/search, /v1/documents, /v1/uploads,
    /v1/reports/latest, /healthz, /readyz, /metrics. Logs are JSON lines on stderr.
    Without API keys it listens on loopback only and every request sees every document;
    create keys with `expertly keys create` to serve a network and to filter each request
    by its key's tenant and groups. See docs/server.md.

    \b
    Examples:
      expertly serve
      expertly keys create --tenant acme --groups hr --scopes ask
      expertly serve --host 0.0.0.0 --port 8080
      expertly serve --workers 4             # 4 processes on one port
    """
    try:
        import uvicorn

        from expertly.server.app import create_app
        from expertly.server.keys import KeyStore
        from expertly.server.observe import configure_logging
        from expertly.server.settings import ServerSettings
    except ImportError as exc:
        raise MissingDependencyError(exc.name or "fastapi", "server", "expertly serve") from None

    ws = workspace()
    keys_required = KeyStore(ws.root).has_active()
    if not is_loopback(host) and not keys_required:
        raise ExpertlyError(
            f"Refusing to listen on {host} without API keys: anyone who can reach it would "
            "read every document. Create a key first with `expertly keys create --tenant T "
            "--scopes ask`, or listen on 127.0.0.1."
        )
    settings = ServerSettings(
        max_body_bytes=max_body_bytes,
        max_upload_bytes=max_upload_bytes,
        concurrency=concurrency,
        max_waiting=max_waiting,
        max_batch=max_batch,
        batch_window_ms=batch_window_ms,
        rate_per_minute=rate_per_minute,
        burst=burst,
        cors_origins=tuple(cors_origin or ()),
        report=report.resolve() if report else None,
        workers=workers,
    )
    if as_json:
        where = f"[{host}]" if ":" in host else host
        print_json(
            {
                "url": f"http://{where}:{port}",
                "workspace": str(ws.root),
                "keys_required": keys_required,
                "workers": workers,
            },
            one_line=True,
        )
    configure_logging()
    if workers > 1:
        _serve_workers(ws.root, settings, host, port)
        return
    app = create_app(ws, settings)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=60,
    )


def _serve_workers(root: Path, settings: ServerSettings, host: str, port: int) -> None:
    """Run ``settings.workers`` processes on one port (uvicorn's supervisor): each builds
    its own app from the environment (``server.workers``); the Prometheus values go to
    ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary folder unless one is given)."""
    import uvicorn

    from expertly.server.observe import MULTIPROC_ENV
    from expertly.server.workers import APP_FACTORY, worker_environment

    given = os.environ.get(MULTIPROC_ENV)
    if given and any(Path(given).glob("*.db")):
        raise ExpertlyError(
            f"{MULTIPROC_ENV}={given} holds metric files of an earlier run, which /metrics "
            "would add to this one's: empty the folder, or unset the variable (expertly then "
            "uses a fresh temporary folder)."
        )
    made = None if given else tempfile.mkdtemp(prefix="expertly-metrics-")
    os.environ.update(worker_environment(root, settings))
    if made is not None:
        os.environ[MULTIPROC_ENV] = made
    try:
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            workers=settings.workers,
            host=host,
            port=port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=60,
        )
    finally:
        if made is not None:
            shutil.rmtree(made)


keys_app = typer.Typer(
    help="API keys of `expertly serve`: each key acts for one tenant and its groups.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@keys_app.command("create")
@handle_errors
def keys_create(
    tenant: Annotated[
        str | None,
        typer.Option(help="The tenant whose documents (and public ones) the key reads."),
    ] = None,
    groups: Annotated[
        str, typer.Option(help="Comma-separated groups: documents of these groups are readable.")
    ] = "",
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: ask (chat, search), ingest, admin.")
    ] = "ask",
    as_json: Annotated[bool, typer.Option("--json", help="Print the key as JSON.")] = False,
) -> None:
    """Create an API key and print it once: only its HMAC is stored, it cannot be shown again.

    \b
    Examples:
      expertly keys create --tenant acme --groups hr,finance --scopes ask
      expertly keys create --scopes admin
    """
    from expertly.server.keys import KeyStore

    store = KeyStore(workspace().root)
    key, record = store.create(tenant=tenant, groups=_split(groups), scopes=_split(scopes))
    if as_json:
        print_json(
            {
                "key": key,
                "id": record.id,
                "tenant": record.tenant,
                "groups": record.groups,
                "scopes": record.scopes,
            }
        )
        return
    console.print(f"Key {record.id} created. Store it now; it is not shown again:")
    console.print(key, markup=False, soft_wrap=True)


@keys_app.command("list")
@handle_errors
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print the keys as JSON.")] = False,
) -> None:
    """List the keys (ids, tenants, groups, scopes; never the keys themselves).

    \b
    Examples:
      expertly keys list
      expertly keys list --json
    """
    from dataclasses import asdict

    from expertly.server.keys import KeyStore

    records = list(KeyStore(workspace(write=False).root).records().values())
    if as_json:
        print_json([{k: v for k, v in asdict(r).items() if k != "digest"} for r in records])
        return
    if not records:
        console.print("No keys. Create one with: expertly keys create --tenant T --scopes ask")
        return
    table = Table()
    for col in ("id", "tenant", "groups", "scopes", "created", "state"):
        table.add_column(col)
    for r in records:
        table.add_row(
            r.id,
            escape(r.tenant or "(all: admin)"),
            escape(",".join(r.groups) or "-"),
            ",".join(r.scopes),
            time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created)),
            "active" if r.active else "revoked",
        )
    console.print(table)


@keys_app.command("revoke")
@handle_errors
def keys_revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (`keys list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the revoked key as JSON.")] = False,
) -> None:
    """Revoke a key: a running server refuses it from its next request on.

    \b
    Examples:
      expertly keys revoke 3f9a2c1b7d4e
    """
    from dataclasses import asdict

    from expertly.server.keys import KeyStore

    record = KeyStore(workspace().root).revoke(key_id)
    if as_json:
        print_json({k: v for k, v in asdict(record).items() if k != "digest"})
        return
    console.print(f"Key {record.id} revoked.")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
