"""`python -m services.notifications.replay`: list the delivery log's failures and queue them again.

    python -m services.notifications.replay --list            # failed deliveries
    python -m services.notifications.replay MESSAGE_ID …      # replay these (same webhook-id)
    python -m services.notifications.replay --all-failed      # replay every failed delivery

It works on the store (`PANTAU_NOTIFICATIONS_DATABASE_URL`); a running notifier picks the rows up
within a second. The HTTP equivalent is `POST /api/v1/deliveries/{message_id}/replay` (admin).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from sqlalchemy import select

from services.notifications import store
from services.notifications.api.deliveries import replay
from services.notifications.settings import NotificationsSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.notifications.replay", description=__doc__)
    parser.add_argument("message_ids", nargs="*", help="deliveries to replay")
    parser.add_argument("--all-failed", action="store_true", help="replay every failed delivery")
    parser.add_argument("--list", action="store_true", help="only list failed deliveries")
    parser.add_argument("--database-url", help="store URL (default: the service's setting)")
    args = parser.parse_args(argv)
    engine = store.build_engine(args.database_url or NotificationsSettings().database_url)
    with engine.begin() as connection:
        failed = (
            connection.execute(
                select(store.deliveries)
                .where(store.deliveries.c.status == "failed")
                .order_by(store.deliveries.c.updated_at)
            )
            .mappings()
            .all()
        )
        if args.list or not (args.message_ids or args.all_failed):
            for row in failed:
                print(
                    f"{row['message_id']}\t{row['channel']}\t{row['alert_id']}\t{row['attempts']}\t{row['last_error']}"
                )
            return 0
        ids = [row["message_id"] for row in failed] if args.all_failed else args.message_ids
        missing = 0
        for message_id in ids:
            if replay(connection, message_id, now=datetime.now(UTC)) is None:
                print(f"no delivery {message_id}", file=sys.stderr)
                missing += 1
            else:
                print(f"replaying {message_id}")
    engine.dispose()
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
