"""Mint a local bearer token for Pantau's APIs (signed with `PANTAU_AUTH_JWT_SECRET`).

uv run python -m tools.token --role admin
uv run python -m tools.token --role facilitator --subject PDP-0001
uv run python -m tools.token --role supervisor --subject SUP-1871 --scope 18.71
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from shared.auth import mint_token
from shared.settings import AuthSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.token",
        description="Mint a local bearer token for Pantau's APIs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--role", choices=["admin", "facilitator", "supervisor"], required=True)
    parser.add_argument("--subject", help="facilitator or supervisor id (default: the role's name)")
    parser.add_argument(
        "--scope", help="region code a supervisor covers; a facilitator's scope is their id; admins get *"
    )
    parser.add_argument("--hours", type=float, default=12, help="validity in hours (default 12)")
    args = parser.parse_args(argv)
    subject = args.subject or args.role
    if args.role == "supervisor" and not args.scope:
        parser.error("a supervisor token needs --scope (a region code, e.g. 18.71)")
    scope = {"admin": "*", "facilitator": subject}.get(args.role, args.scope)
    print(mint_token(AuthSettings(), subject=subject, role=args.role, scope=scope, ttl=timedelta(hours=args.hours)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
