#!/usr/bin/env python3
"""Render the integration's brand images (custom_components/mppsolar/brand/) from geometry.

Home Assistant 2026.3+ serves a custom integration's own ``brand/`` images (icon and logo, light
and dark, 1x and 2x). Drawing them from code keeps them reproducible and reviewable; run with
``--check`` to verify the committed files match.
"""

# ruff: noqa: INP001, T201

from __future__ import annotations

import argparse
import io
import math
from pathlib import Path
import sys

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parent.parent / "custom_components" / "mppsolar" / "brand"
SUN = (255, 179, 0, 255)
PANEL = {"light": (21, 101, 192, 255), "dark": (100, 181, 246, 255)}
TEXT = {"light": (33, 33, 33, 255), "dark": (238, 238, 238, 255)}
BOLT = (255, 255, 255, 255)


def icon(size: int, theme: str) -> Image.Image:
    """Draw the icon: a sun above a solar panel, with a charge bolt on the panel."""
    scale = 4  # supersample, then downscale for smooth edges
    s = size * scale
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    cx, cy, r = s * 0.5, s * 0.33, s * 0.15
    for i in range(12):
        angle = i * math.pi / 6
        inner, outer = r * 1.35, r * 1.9
        draw.line(
            (
                cx + inner * math.cos(angle),
                cy + inner * math.sin(angle),
                cx + outer * math.cos(angle),
                cy + outer * math.sin(angle),
            ),
            fill=SUN,
            width=int(s * 0.035),
        )
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=SUN)
    # The panel: a parallelogram in perspective with a 3x2 cell grid.
    top, bottom = s * 0.58, s * 0.96
    left_top, right_top = s * 0.2, s * 0.8
    left_bottom, right_bottom = s * 0.04, s * 0.96
    draw.polygon(
        ((left_top, top), (right_top, top), (right_bottom, bottom), (left_bottom, bottom)),
        fill=PANEL[theme],
    )
    gap = int(s * 0.018)
    for k in range(1, 3):
        t = k / 3
        xt = left_top + (right_top - left_top) * t
        xb = left_bottom + (right_bottom - left_bottom) * t
        draw.line((xt, top, xb, bottom), fill=(0, 0, 0, 0), width=gap)
    ym = (top + bottom) / 2
    xl = (left_top + left_bottom) / 2
    xr = (right_top + right_bottom) / 2
    draw.line((xl, ym, xr, ym), fill=(0, 0, 0, 0), width=gap)
    # A bolt over the middle column.
    bolt = ((0.55, 0.6), (0.42, 0.8), (0.5, 0.8), (0.45, 0.95), (0.6, 0.74), (0.52, 0.74))
    draw.polygon(tuple((x * s, y * s) for x, y in bolt), fill=BOLT)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def logo(height: int, theme: str) -> Image.Image:
    """Draw the logo: the icon followed by the name."""
    mark = icon(height, theme)
    font = ImageFont.load_default(size=int(height * 0.5))
    text = "mppsolar"
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    width = height + int(height * 0.15) + (right - left) + int(height * 0.05)
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    img.paste(mark, (0, 0), mark)
    ImageDraw.Draw(img).text(
        (height + int(height * 0.15) - left, (height - (bottom - top)) / 2 - top),
        text,
        font=font,
        fill=TEXT[theme],
    )
    return img


def images() -> dict[str, bytes]:
    """Return every brand file's name and PNG bytes."""
    out: dict[str, bytes] = {}
    for theme, prefix in (("light", ""), ("dark", "dark_")):
        for factor, suffix in ((1, ""), (2, "@2x")):
            for name, image in (
                ("icon", icon(256 * factor, theme)),
                ("logo", logo(128 * factor, theme)),
            ):
                buffer = io.BytesIO()
                image.save(buffer, format="PNG", optimize=True)
                out[f"{prefix}{name}{suffix}.png"] = buffer.getvalue()
    return out


def main() -> int:
    """Write the images, or with --check verify the committed ones are current."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a file is out of date")
    args = parser.parse_args()
    stale = []
    for name, data in images().items():
        path = BRAND / name
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                stale.append(name)
        else:
            BRAND.mkdir(exist_ok=True)
            path.write_bytes(data)
    if stale:
        print(f"out of date: {', '.join(stale)}; run scripts/gen_brand.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
