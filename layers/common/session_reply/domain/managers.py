"""Which manager reviews a lead: stable per chat, so a returning client sees the same name."""

from __future__ import annotations

import zlib
from collections.abc import Sequence


def assign_manager(chat_id: str, managers: Sequence[str], current: str | None = None) -> str:
    if current and current in managers:
        return current
    if not managers:
        return "Our manager"
    return managers[zlib.crc32(chat_id.encode()) % len(managers)]
