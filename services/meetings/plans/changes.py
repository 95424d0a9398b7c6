"""What a plan revision changed (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.events.plans import ActivityChange


def activity_changes(before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]) -> list[ActivityChange]:
    """Added, removed and modified activities (by id), with the modified fields, in a stable order."""
    old = {activity["activity_id"]: activity for activity in before}
    new = {activity["activity_id"]: activity for activity in after}
    changes: list[ActivityChange] = []
    for activity_id, activity in new.items():
        if activity_id not in old:
            changes.append(ActivityChange(activity_id=activity_id, change="added"))
        elif activity != old[activity_id]:
            fields = tuple(
                sorted(
                    key
                    for key in activity.keys() | old[activity_id].keys()
                    if activity.get(key) != old[activity_id].get(key)
                )
            )
            changes.append(ActivityChange(activity_id=activity_id, change="modified", fields=fields))
    changes.extend(
        ActivityChange(activity_id=activity_id, change="removed") for activity_id in old if activity_id not in new
    )
    return changes
