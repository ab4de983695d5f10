"""The brand images in custom_components/keba/brand/ against Home Assistant's brand rules.

Rules (home-assistant/brands README, "Image specification"; file names: the brands
integration of Home Assistant 2026.3+, which serves a custom integration's brand/ folder):
PNG with transparency, trimmed; icons square, 256×256 and 512×512 for @2x; logos preferably
landscape, shortest side 128-256 px, 256-512 px for @2x.
"""

from __future__ import annotations

from pathlib import Path
from unittest.mock import MagicMock, patch

from aiohttp import ClientError
from PIL import Image, ImageStat
import pytest

from homeassistant.components.brands.const import ALLOWED_IMAGES
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

BRAND = Path(__file__).resolve().parents[1] / "custom_components" / "keba" / "brand"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ICONS = ["icon.png", "icon@2x.png", "dark_icon.png", "dark_icon@2x.png"]
LOGOS = ["logo.png", "logo@2x.png", "dark_logo.png", "dark_logo@2x.png"]


def _open(name: str) -> Image.Image:
    image = Image.open(BRAND / name)
    image.load()
    return image


def test_brand_folder_holds_exactly_the_served_names() -> None:
    """All eight images, each a name Home Assistant serves, and nothing else."""
    files = sorted(path.name for path in BRAND.iterdir())
    assert files == sorted(ICONS + LOGOS)
    assert set(files) <= ALLOWED_IMAGES


@pytest.mark.parametrize("name", ICONS + LOGOS)
def test_png_with_transparent_background_and_trimmed(name: str) -> None:
    """A real PNG (not a renamed file), RGBA, transparent around the drawing, no empty border."""
    assert (BRAND / name).read_bytes()[:8] == PNG_SIGNATURE
    image = _open(name)
    assert image.format == "PNG"
    assert image.mode == "RGBA"
    alpha = image.getchannel("A")
    width, height = image.size
    corners = [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]
    assert [alpha.getpixel(corner) for corner in corners] == [0, 0, 0, 0]
    histogram = alpha.histogram()
    assert histogram[0] > width * height // 10, "the background should be transparent"
    assert histogram[255] > width * height // 10, "the drawing should be opaque"
    left, top, right, bottom = alpha.getbbox() or (0, 0, 0, 0)
    # Trimmed: the drawing reaches two opposite edges (a square icon leaves the rest of the
    # longer axis free), a logo all four.
    touches_height = (top, bottom) == (0, height)
    touches_width = (left, right) == (0, width)
    if name in LOGOS:
        assert touches_height, (name, (left, top, right, bottom))
        assert touches_width, (name, (left, top, right, bottom))
    else:
        assert touches_height or touches_width, (name, (left, top, right, bottom))


@pytest.mark.parametrize("prefix", ["", "dark_"])
def test_icon_sizes(prefix: str) -> None:
    """Icons are square, 256×256 and 512×512."""
    assert _open(f"{prefix}icon.png").size == (256, 256)
    assert _open(f"{prefix}icon@2x.png").size == (512, 512)


@pytest.mark.parametrize("prefix", ["", "dark_"])
def test_logo_sizes(prefix: str) -> None:
    """Logos are landscape, shortest side 128-256 px; @2x exactly twice as large."""
    width, height = _open(f"{prefix}logo.png").size
    assert width > height
    assert 128 <= height <= 256
    assert _open(f"{prefix}logo@2x.png").size == (2 * width, 2 * height)


@pytest.mark.parametrize("name", ICONS[:2] + LOGOS[:2])
def test_dark_variant_is_drawn_for_a_dark_background(name: str) -> None:
    """Same size and outline as the light image, but lighter where it is drawn."""
    light, dark = _open(name), _open(f"dark_{name}")
    assert dark.size == light.size
    assert dark.getchannel("A").getbbox() == light.getchannel("A").getbbox()

    def mean_opaque_luma(image: Image.Image) -> float:
        opaque = image.getchannel("A").point(lambda a: 255 if a == 255 else 0)
        return float(ImageStat.Stat(image.convert("L"), mask=opaque).mean[0])

    assert mean_opaque_luma(dark) > mean_opaque_luma(light) + 60


@pytest.mark.parametrize("name", ["icon.png", "dark_logo@2x.png"])
async def test_home_assistant_serves_our_images(
    hass: HomeAssistant, hass_client: ClientSessionGenerator, name: str
) -> None:
    """Home Assistant's brands API answers with our file (and never asks the brands CDN)."""
    cdn = MagicMock()
    cdn.get.side_effect = ClientError("no internet in tests")
    with patch("homeassistant.components.brands.async_get_clientsession", return_value=cdn):
        assert await async_setup_component(hass, "brands", {})
        client = await hass_client()
        response = await client.get(f"/api/brands/integration/keba/{name}")
        assert response.status == 200
        assert response.content_type == "image/png"
        assert await response.read() == (BRAND / name).read_bytes()
    cdn.get.assert_not_called()
