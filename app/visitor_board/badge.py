"""The serving-instance badge: a colour per instance, derived from its id, so a room sees at a glance that
another instance answered.

The colour is one of PALETTE's twelve hues (30 degrees apart), chosen by the SHA-256 of the instance id, so
every process and every host picks the same colour for the same id. Each colour carries white text at a
WCAG 2.1 contrast ratio of at least 4.5:1 (tests/app/test_badge.py computes it from style.css), and its name
is written next to the id: the colour is never the only sign.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# (name, background) for white text; the stylesheet's .badge-<index> classes hold the same colours (the
# CSP forbids inline styles).
PALETTE: tuple[tuple[str, str], ...] = (
    ("red", "#d61f1f"),
    ("brown", "#a15c17"),
    ("olive", "#707010"),
    ("lime", "#457811"),
    ("green", "#128112"),
    ("emerald", "#127d47"),
    ("teal", "#117878"),
    ("azure", "#1c70c4"),
    ("blue", "#4c4ce6"),
    ("purple", "#913fe4"),
    ("magenta", "#c01bc0"),
    ("rose", "#d21e78"),
)


@dataclass(frozen=True)
class Badge:
    """index: position in PALETTE (the CSS class is badge-<index>); name and background: its colour."""

    index: int
    name: str
    background: str


def badge_for(instance_id: str) -> Badge:
    """The badge of `instance_id` (any string: an EC2 instance id, or a hostname off EC2)."""
    digest = hashlib.sha256(instance_id.encode("utf-8")).digest()
    index = int.from_bytes(digest[:4], "big") % len(PALETTE)
    name, background = PALETTE[index]
    return Badge(index, name, background)
