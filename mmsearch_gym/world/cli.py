"""Subcommands ``world build``, ``world info`` and ``serve`` of the ``mmsearch-gym`` command.

``mmsearch_gym.cli`` calls :func:`register` with its subparsers; heavy imports happen
inside the handlers so that ``mmsearch-gym list`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from .store import DEFAULT_ENTITIES, DEFAULT_SEED


def register(subparsers: Any) -> None:
    """Add ``world`` (with ``build`` and ``info``) and ``serve`` to the command's subparsers."""
    world = subparsers.add_parser("world", help="build or inspect an offline world")
    world_sub = world.add_subparsers(dest="world_command", required=True)
    build = world_sub.add_parser("build", help="generate a world with its search indexes into a folder")
    build.add_argument("--entities", type=int, default=DEFAULT_ENTITIES, help="number of entities")
    build.add_argument("--seed", type=int, default=DEFAULT_SEED)
    build.add_argument(
        "--out", required=True, help="folder to write (created; an existing world is kept unless --force)"
    )
    build.add_argument("--photos", action="store_true", help="also write the degraded photos as PNG files")
    build.add_argument("--force", action="store_true", help="rebuild even if the folder holds this world already")
    build.set_defaults(func=_cmd_build)
    info = world_sub.add_parser("info", help="summarise a built world")
    info.add_argument("path")
    info.set_defaults(func=_cmd_info)

    serve = subparsers.add_parser("serve", help="serve a world's search over HTTP for many rollout workers")
    serve.add_argument("--world", help="a built world folder (default: the cached default world)")
    serve.add_argument(
        "--entities", type=int, default=DEFAULT_ENTITIES, help="size of the cached world when --world is not given"
    )
    serve.add_argument("--seed", type=int, default=DEFAULT_SEED)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--verbose", action="store_true", help="log every request")
    serve.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' on every request (default: $MMSEARCH_GYM_SERVE_TOKEN; "
        "required when --host is not loopback); clients send it from MMSEARCH_GYM_SERVE_TOKEN",
    )
    serve.add_argument("--max-connections", type=int, default=64, help="connections served at once (more get 503)")
    serve.set_defaults(func=_cmd_serve)


def _cmd_build(args: argparse.Namespace, console: Console) -> int:
    from .schema import min_entities
    from .store import build_world, is_complete, read_manifest

    if args.entities < min_entities() or args.seed < 0:
        console.print(f"[red]--entities must be >= {min_entities()} and --seed >= 0[/red]")
        return 2
    out = Path(args.out)
    kept = not args.force and is_complete(out, args.entities, args.seed)
    start = time.perf_counter()
    try:
        build_world(out, args.entities, args.seed, photos=args.photos, progress=console.is_terminal, force=args.force)
    except (FileExistsError, ValueError) as err:
        console.print(f"[red]{err}[/red]")
        return 2
    seconds = time.perf_counter() - start
    manifest = read_manifest(out) or {}
    verb = "kept the existing" if kept else f"built in {seconds:.1f} s a"
    console.print(f"{verb} world of {args.entities} entities (seed {args.seed}) at {out}")
    console.print(f"fingerprint {manifest.get('fingerprint', '?')}, {_size(out) / 1e6:.1f} MB")
    return 0


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _cmd_info(args: argparse.Namespace, console: Console) -> int:
    from .store import load_world, read_manifest

    manifest = read_manifest(Path(args.path))
    if manifest is None:
        console.print(f"[red]{args.path} is not a built world[/red]")
        return 2
    world = load_world(Path(args.path))
    table = Table(
        title=f"world seed {manifest['seed']} · {len(world)} entities · {len(world.relations)} relations · "
        f"{len(world.images)} images"
    )
    for col in ("type", "FactIP category", "entities", "images"):
        table.add_column(col, justify="left" if col in ("type", "FactIP category") else "right")
    types = Counter(e.type for e in world.entities.values())
    images = Counter(world.entity(i.entity_id).type for i in world.images.values())
    for t, n in types.items():
        table.add_row(t, world.of_type(t)[0].category or "—", str(n), str(images[t]))
    console.print(table)
    console.print(
        f"connected: {world.is_connected()} · near-duplicate name pairs: {len(world.near_duplicate_pairs)} · "
        f"fingerprint {manifest['fingerprint']}"
    )
    return 0


def _cmd_serve(args: argparse.Namespace, console: Console) -> int:
    from .backend import LocalWorldBackend
    from .server import TOKEN_ENV, WorldServer, is_loopback
    from .store import ensure_world

    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_loopback(args.host):
        console.print(
            f"[red]cannot serve on {args.host} without a token: anyone who can reach it could use it. "
            f"Pass --token or set {TOKEN_ENV} (workers send it from the same variable), or bind to 127.0.0.1.[/red]"
        )
        return 2
    try:
        path = Path(args.world) if args.world else ensure_world(args.entities, args.seed, progress=console.is_terminal)
        backend = LocalWorldBackend(path)
        server = WorldServer(
            backend, args.host, args.port, verbose=args.verbose, token=token, max_connections=args.max_connections
        )
    except (OSError, ValueError) as err:
        console.print(f"[red]cannot serve: {err}[/red]")
        return 2
    console.print(
        f"serving world {path} ({len(backend.world)} entities) at {server.url}; "
        f"workers use backend={server.url!r}{f' with {TOKEN_ENV} set' if token else ''}. Ctrl-C stops."
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
