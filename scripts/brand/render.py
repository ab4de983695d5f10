"""Render the integration's brand images from the SVG sources in this directory.

    python3 scripts/brand/render.py [--out DIR]

Writes icon.png (256×256), icon@2x.png (512×512), logo.png (height 256), logo@2x.png
(height 512) and the dark_ variants of each into custom_components/keba/brand/ (or DIR), the
names Home Assistant's brands integration serves for a custom integration (2026.3 and newer).

icon.svg and logo.svg are drawn for a light background; the dark variants use the same drawing
with the palette below. Each picture is rendered large with rsvg-convert, trimmed to what is
drawn (no empty border), scaled down (the icon centred on a square, transparent canvas) and
saved as a compressed PNG with transparency, as Home Assistant's brand rules ask.

Needs rsvg-convert and Pillow (Debian: apt-get install librsvg2-bin python3-pil).
"""

from __future__ import annotations

import argparse
from io import BytesIO
from pathlib import Path
import re
import shutil
import subprocess
import sys

from PIL import Image

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE.parents[1] / "custom_components" / "keba" / "brand"

# Palettes: the light one is what the SVG files contain.
LIGHT = {"body": "#263238", "screen": "#ffffff", "accent": "#00a844"}
DARK = {"body": "#eceff1", "screen": "#263238", "accent": "#00c853"}

ICON_SIZE = 256  # icon.png; icon@2x.png is twice that
LOGO_HEIGHT = 256  # logo.png's shortest side (the brand rules allow 128-256); @2x twice that
RENDER_SCALE = 4  # render this many times larger than the largest output, then scale down


def themed(svg: str, palette: dict[str, str]) -> str:
    """The SVG with the colours of its style block replaced by those of the palette."""
    for role, light in LIGHT.items():
        svg, count = re.subn(
            rf"(\.{role}\s*\{{[^}}]*?(?:fill|stroke):\s*){re.escape(light)}",
            rf"\g<1>{palette[role]}",
            svg,
        )
        if count == 0:
            raise SystemExit(f"no .{role} style with colour {light} in the SVG")
    # The cable is drawn with the body's colour.
    return re.sub(
        rf"(\.cable\s*\{{[^}}]*?stroke:\s*){re.escape(LIGHT['body'])}",
        rf"\g<1>{palette['body']}",
        svg,
    )


def rasterize(svg: str, height: int) -> Image.Image:
    """Render the SVG at the given height, trimmed to its drawn pixels."""
    rsvg = shutil.which("rsvg-convert")
    if rsvg is None:
        raise SystemExit("rsvg-convert not found (Debian: apt-get install librsvg2-bin)")
    png = subprocess.run(  # noqa: S603 - fixed program, our own SVG on stdin
        [rsvg, "--height", str(height), "--format", "png"],
        input=svg.encode(),
        capture_output=True,
        check=True,
    ).stdout
    image = Image.open(BytesIO(png)).convert("RGBA")
    box = image.getchannel("A").getbbox()
    if box is None:
        raise SystemExit("the SVG draws nothing")
    return image.crop(box)


def scaled(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale with premultiplied alpha, so that edges get no dark or light fringe."""
    return image.convert("RGBa").resize(size, Image.Resampling.LANCZOS).convert("RGBA")


def icon(drawing: Image.Image, side: int) -> Image.Image:
    """The drawing centred on a transparent square, touching two opposite edges."""
    factor = side / max(drawing.size)
    width = max(1, round(drawing.width * factor))
    height = max(1, round(drawing.height * factor))
    canvas = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    canvas.alpha_composite(
        scaled(drawing, (width, height)), ((side - width) // 2, (side - height) // 2)
    )
    return canvas


def logo(drawing: Image.Image, height: int) -> Image.Image:
    """The drawing scaled to the given height (it is landscape: the height is its short side)."""
    width = round(drawing.width * height / drawing.height)
    if width <= height:
        raise SystemExit("the logo must be landscape")
    return scaled(drawing, (width, height))


def save(image: Image.Image, path: Path) -> None:
    """Save as an optimised PNG and say what was written."""
    image.save(path, format="PNG", optimize=True)
    print(f"{path}: {image.width}×{image.height}, {path.stat().st_size} bytes")


def main(argv: list[str] | None = None) -> int:
    """Render every brand image."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    icon_svg = (HERE / "icon.svg").read_text(encoding="utf-8")
    logo_svg = (HERE / "logo.svg").read_text(encoding="utf-8")
    for prefix, palette in (("", LIGHT), ("dark_", DARK)):
        drawing = rasterize(themed(icon_svg, palette), 2 * ICON_SIZE * RENDER_SCALE)
        save(icon(drawing, ICON_SIZE), args.out / f"{prefix}icon.png")
        save(icon(drawing, 2 * ICON_SIZE), args.out / f"{prefix}icon@2x.png")
        drawing = rasterize(themed(logo_svg, palette), 2 * LOGO_HEIGHT * RENDER_SCALE)
        save(logo(drawing, LOGO_HEIGHT), args.out / f"{prefix}logo.png")
        save(logo(drawing, 2 * LOGO_HEIGHT), args.out / f"{prefix}logo@2x.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
