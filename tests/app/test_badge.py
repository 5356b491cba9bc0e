"""The serving-instance badge: near the top of every page, its colour derived from the instance id, white
text readable on every colour (WCAG 2.1 contrast), and the colour named in words."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from board_helpers import SECRET, dynamodb_client
from visitor_board import StartupOptions, create_app
from visitor_board.badge import PALETTE, badge_for
from visitor_board.config import Config
from visitor_board.identity import Identity
from visitor_board.table import create_table

STYLESHEET = Path(__file__).resolve().parents[2] / "app" / "visitor_board" / "static" / "style.css"
_BADGE_RULE = re.compile(r"\.badge-(\d+)\s*\{\s*background:\s*(#[0-9a-fA-F]{6});\s*\}")


def _luminance(colour: str) -> float:
    """Relative luminance (WCAG 2.1) of #rrggbb."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def _contrast(a: str, b: str) -> float:
    light, dark = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_stylesheet_has_every_colour_and_white_text_is_readable_on_each() -> None:
    rules = {int(i): colour.lower() for i, colour in _BADGE_RULE.findall(STYLESHEET.read_text())}
    assert rules == {i: colour for i, (_, colour) in enumerate(PALETTE)}
    assert re.search(r"\.instance-badge\s*\{[^}]*color:\s*#ffffff", STYLESHEET.read_text())
    for name, colour in PALETTE:
        assert _contrast(colour, "#ffffff") >= 4.5, f"{name} {colour}: {_contrast(colour, '#ffffff'):.2f}"
    assert len({name for name, _ in PALETTE}) == len(PALETTE)


def test_the_colour_is_a_function_of_the_instance_id_and_spreads_over_the_palette() -> None:
    ids = [f"i-{n:017x}" for n in range(200)]
    assert [badge_for(i) for i in ids] == [badge_for(i) for i in ids]
    assert {badge_for(i).index for i in ids} == set(range(len(PALETTE)))
    assert badge_for("i-0123456789abcdef0").name == PALETTE[badge_for("i-0123456789abcdef0").index][0]


@pytest.fixture
def page_of(moto, table_name: str) -> Callable[[str, str], str]:
    """page_of(instance id, path) -> the HTML an app serving as that instance answers."""
    create_table(dynamodb_client(moto.url), table_name)
    config = Config(table_name=table_name, dynamodb_endpoint_url=moto.url, secret_key=SECRET)

    def page(instance_id: str, path: str) -> str:
        app = create_app(config, StartupOptions(identity=Identity(instance_id, "eu-north-1a", True)))
        return app.test_client().get(path).text

    return page


@pytest.mark.parametrize("path", ["/", "/no-such-page"])
def test_every_page_shows_the_serving_instance_near_the_top(
    page_of: Callable[[str, str], str], path: str
) -> None:
    ids = [f"i-{n:017x}" for n in range(40)]
    first = ids[0]
    other = next(i for i in ids if badge_for(i).index != badge_for(first).index)
    shown = {}
    for instance_id in (first, other):
        body = page_of(instance_id, path)
        badge = re.search(
            r'<p class="instance-badge badge-(\d+)" id="instance-badge"[^>]*>(.*?)</p>', body, re.S
        )
        assert badge, body[:1500]
        # Near the top: in the header, before the page's own content.
        assert body.index('id="instance-badge"') < body.index("<main>")
        text = " ".join(re.sub(r"<[^>]+>", " ", badge.group(2)).split())
        assert text == f"This page was served by {instance_id} ({badge_for(instance_id).name})"
        shown[instance_id] = int(badge.group(1))
    assert shown == {first: badge_for(first).index, other: badge_for(other).index}
