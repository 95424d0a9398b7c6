"""Every channel module of this package that defines `SPEC` (a `ChannelSpec`): adding a channel
(WhatsApp, SMS, …) is one module here plus its settings — nothing else changes."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from services.notifications import channels
from services.notifications.channels.base import Channel, ChannelSpec
from services.notifications.channels.feed import FeedHub
from services.notifications.settings import NotificationsSettings


@cache
def channel_specs() -> tuple[ChannelSpec, ...]:
    """The specs, by name."""
    found = []
    for module in pkgutil.iter_modules(channels.__path__):
        spec = getattr(importlib.import_module(f"{channels.__name__}.{module.name}"), "SPEC", None)
        if isinstance(spec, ChannelSpec):
            found.append(spec)
    return tuple(sorted(found, key=lambda spec: spec.name))


def pushed_specs() -> tuple[ChannelSpec, ...]:
    """The channels that push messages to a supervisor (everything but the live feed)."""
    return tuple(spec for spec in channel_specs() if spec.pushed)


def build_channels(settings: NotificationsSettings, hub: FeedHub) -> dict[str, Channel]:
    """Every configured channel, by name (the delivery rows' `channel`)."""
    built: dict[str, Channel] = {}
    for spec in channel_specs():
        channel = spec.build(settings, hub)
        if channel is not None:
            built[spec.name] = channel
    return built
