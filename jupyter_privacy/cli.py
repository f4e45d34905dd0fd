"""``jupyter-privacy``: check the audit log, read the ledger, run the curator."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from jupyter_privacy.core.errors import PrivacyError
from jupyter_privacy.core.ledger import Ledger
from jupyter_privacy.core.workspace import default_home


def _ledger(home: str | None) -> Ledger:
    folder = Path(home) if home else default_home()
    path = folder / "ledger.sqlite"
    if not path.is_file():
        raise SystemExit(f"jupyter-privacy: no ledger at {path}")
    return Ledger(path)


def _exported_head(text: str) -> tuple[str, int | None]:
    """A head as ``audit head`` prints it ("ENTRIES HASH"), or a file holding that, or a hash."""
    path = Path(text)
    words = (path.read_text() if path.is_file() else text).replace(":", " ").split()
    if len(words) == 2 and words[0].isdigit():
        return words[1], int(words[0])
    if len(words) == 1:
        return words[0], None
    raise SystemExit(f"jupyter-privacy: cannot read a head from {text!r} (want 'ENTRIES HASH')")


def audit_verify(args: argparse.Namespace) -> int:
    head_hash, head_entries = _exported_head(args.head) if args.head else (None, None)
    result = _ledger(args.home).verify(head_hash, head_entries)
    if result.ok:
        print(result.message)
        return 0
    where = f" at entry {result.first_broken}" if result.first_broken is not None else ""
    print(f"audit log BROKEN{where}: {result.message}")
    return 1


def audit_head(args: argparse.Namespace) -> int:
    entries, digest = _ledger(args.home).head()
    print(f"{entries} {digest}")
    return 0


def ledger_show(args: argparse.Namespace) -> int:
    ledger = _ledger(args.home)
    rows = []
    for name in ledger.source_names():
        total, spent = ledger.totals(name)
        row = ledger._db.execute(
            "SELECT mode, budget FROM sources WHERE name = ?", (name,)
        ).fetchone()
        budget = json.loads(row[1])
        rows.append(
            {
                "source": name,
                "mode": row[0],
                "budget": budget,
                "spent_epsilon": float(spent.epsilon),
                "spent_rho": float(spent.rho),
                "spent_delta": float(spent.delta),
                "total_rho": float(total.rho),
                "releases": len(ledger.releases(name)),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no sources in this ledger")
    for r in rows:
        b = r["budget"]
        if r["mode"] == "pure":
            used = f"ε {r['spent_epsilon']:.3f} of {b['epsilon']:g} spent"
        else:
            used = (
                f"ρ {r['spent_rho']:.4g} of {r['total_rho']:.4g} spent "
                f"(budget ε {b['epsilon']:g}, δ {b['delta']:g}); threshold δ {r['spent_delta']:.3g}"
            )
        print(f"{r['source']:<20} {r['mode']:<5} {used}; {r['releases']} releases")
    return 0


def ledger_reset(args: argparse.Namespace) -> int:
    """Forget spent budget and cached releases of some sources: a workshop's fresh start."""
    ledger = _ledger(args.home)
    known = ledger.source_names()
    names = known if args.all else list(dict.fromkeys(args.source or []))
    if not names:
        print("jupyter-privacy: name a source with --source NAME, or use --all", file=sys.stderr)
        return 2
    unknown = [n for n in names if n not in known]
    if unknown:
        print(
            f"jupyter-privacy: no source {unknown[0]!r} in {ledger.path} "
            f"(sources: {', '.join(known) or 'none'})",
            file=sys.stderr,
        )
        return 2
    print(f"Reset {', '.join(names)} in {ledger.path}: spent budget and cached releases are")
    print("forgotten; the audit log keeps a record. Only do this for teaching or test data:")
    print("resetting the budget of real data undoes its privacy guarantee.")
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                "jupyter-privacy: refusing without --yes (no terminal to confirm)", file=sys.stderr
            )
            return 2
        if input("Type 'reset' to confirm: ").strip() != "reset":
            print("nothing changed")
            return 1
    for name in names:
        detail = ledger.reset(name, args.reason)
        print(
            f"{name}: reset ({detail['charges']} charges, {detail['releases']} releases forgotten)"
        )
    return 0


def serve(args: argparse.Namespace) -> int:
    """Run the curator until SIGINT or SIGTERM (the server code is imported only here)."""
    import signal
    import threading

    from jupyter_privacy.curator.server import Limits, build

    target = args.socket or args.url
    server = build(
        Path(args.policy),
        home=Path(args.home) if args.home else None,
        target=target,
        token_file=Path(args.token_file) if args.token_file else None,
        limits=Limits(rate=args.rate, max_request_bytes=args.max_request_bytes),
        socket_mode=int(args.socket_mode, 8),
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    names = ", ".join(sorted(server.curator.ws.sources)) or "(none)"
    print(f"jupyter-privacy curator on {server.address}; sources: {names}", flush=True)
    stop.wait()
    server.stop()
    return 0


def token_add(args: argparse.Namespace) -> int:
    """Issue a client token: the file (0600) for the client, its hash for the curator."""
    from jupyter_privacy.curator.auth import Registry, issue

    registry = Registry((Path(args.home) if args.home else default_home()) / "clients.json")
    client = issue(registry, args.name, Path(args.out), args.uid)
    print(f"token for {client.name} written to {args.out}; registered in {registry.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jupyter-privacy", description=__doc__)
    parser.add_argument(
        "--home", help="ledger folder (default: $JUPYTER_PRIVACY_HOME or ./.jupyter_privacy)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    audit = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="action", required=True
    )
    verify = audit.add_parser(
        "verify", help="check the hash chain; exit 1 naming the first broken entry"
    )
    verify.add_argument(
        "--head", help="a head kept from `audit head` (file, or 'ENTRIES HASH'): detects truncation"
    )
    audit.add_parser("head", help="print 'ENTRIES HASH' of the last entry, for a reviewer to keep")
    ledger = sub.add_parser("ledger", help="budgets and releases").add_subparsers(
        dest="action", required=True
    )
    show = ledger.add_parser("show", help="spent and remaining budget per source")
    show.add_argument("--json", action="store_true")
    reset = ledger.add_parser(
        "reset", help="forget spent budget and cached releases (workshops; writes an audit entry)"
    )
    reset.add_argument("--source", action="append", help="a source to reset (repeatable)")
    reset.add_argument("--all", action="store_true", help="reset every source in the ledger")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.add_argument("--reason", default="workshop reset", help="recorded in the audit log")
    srv = sub.add_parser("serve", help="run the curator (curator mode)")
    srv.add_argument("--policy", required=True, help="privacy.toml declaring the sources")
    where = srv.add_mutually_exclusive_group()
    where.add_argument("--socket", help="Unix socket path (default: [curator] in the policy)")
    where.add_argument(
        "--url", help="tcp://127.0.0.1:PORT or http://127.0.0.1:PORT (loopback only, no TLS)"
    )
    srv.add_argument("--token-file", help="this user's token file (created 0600 if missing)")
    srv.add_argument("--socket-mode", default="660", help="octal mode of the socket (660)")
    srv.add_argument("--rate", type=float, default=50.0, help="requests per second per client")
    srv.add_argument("--max-request-bytes", type=int, default=1 << 20)
    token = sub.add_parser("token", help="curator client tokens").add_subparsers(
        dest="action", required=True
    )
    add = token.add_parser("add", help="issue a token file for a client")
    add.add_argument("name", help="the client's name in the audit log")
    add.add_argument("--out", required=True, help="the token file to create (mode 0600)")
    add.add_argument("--uid", type=int, help="the only uid allowed to use it on the socket")
    args = parser.parse_args(argv)
    try:
        if args.command == "audit":
            return audit_head(args) if args.action == "head" else audit_verify(args)
        if args.command == "serve":
            return serve(args)
        if args.command == "token":
            return token_add(args)
        if args.action == "reset":
            return ledger_reset(args)
        return ledger_show(args)
    except PrivacyError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
