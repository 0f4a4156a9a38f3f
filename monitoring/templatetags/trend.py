"""A small inline SVG sparkline of run durations: no JavaScript, no CDN, readable without colour.

``{% sparkline points %}`` draws the durations oldest → newest on a zero-based scale. Every run
gets a marker whose *shape* says how it ended (circle: succeeded, triangle: partial, cross:
failed), so the trend reads the same in greyscale; the SVG's title and ``aria-label`` list the
figures in words for screen readers and on hover.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

register = template.Library()

SUCCEEDED, PARTIAL, FAILED = "succeeded", "partial", "failed"
WIDTH, HEIGHT, PAD = 120, 28, 4


@dataclass(frozen=True)
class TrendPoint:
    """One finished run: its duration in seconds, how it ended, and the duration in words."""

    seconds: float
    outcome: str  # SUCCEEDED, PARTIAL or FAILED
    text: str


def describe(points: Sequence[TrendPoint]) -> str:
    """The figures in words: ``Durations of the last 3 runs, oldest first: 12 s, 14 s (failed), 13 s``."""
    if not points:
        return _("No finished runs yet")
    words = {PARTIAL: pgettext("how a run ended", "partial"), FAILED: pgettext("how a run ended", "failed")}
    figures = [f"{point.text} ({words[point.outcome]})" if point.outcome in words else point.text for point in points]
    heading = ngettext(
        "Duration of the last run",
        "Durations of the last %(count)d runs, oldest first",
        len(points),
    ) % {"count": len(points)}
    return f"{heading}: {', '.join(figures)}"


def _marker(outcome: str, x: float, y: float) -> str:
    """One run's marker; only numbers and fixed class names go in, so no escaping is needed."""
    if outcome == FAILED:
        r = 3.2
        d = f"M{x - r:.1f} {y - r:.1f}L{x + r:.1f} {y + r:.1f}M{x - r:.1f} {y + r:.1f}L{x + r:.1f} {y - r:.1f}"
        return f'<path class="trend-failed" d="{d}"/>'
    if outcome == PARTIAL:
        r, low = 3.4, y + 3.4 * 0.8
        return f'<path class="trend-partial" d="M{x:.1f} {y - r:.1f}L{x + r:.1f} {low:.1f}L{x - r:.1f} {low:.1f}Z"/>'
    return f'<circle class="trend-ok" cx="{x:.1f}" cy="{y:.1f}" r="1.8"/>'


def sparkline_svg(
    points: Sequence[TrendPoint], *, width: int = WIDTH, height: int = HEIGHT, label: str | None = None
) -> SafeString:
    """The SVG (a safe string): a line through the durations and one shaped marker per run.

    ``label`` is :func:`describe`'s words for ``points``, when the caller has them already.
    """
    label = escape(describe(points) if label is None else label)
    if not points:
        return format_html(
            '<span class="trend-empty" title="{0}">—<span class="visually-hidden">{0}</span></span>', label
        )
    width, height = int(width), int(height)
    longest = max(point.seconds for point in points) or 1.0
    span_x, span_y = width - 2 * PAD, height - 2 * PAD
    step = span_x / (len(points) - 1) if len(points) > 1 else 0
    coordinates = [
        (PAD + (index * step if len(points) > 1 else span_x / 2), PAD + span_y * (1 - max(point.seconds, 0) / longest))
        for index, point in enumerate(points)
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    markers = "".join(_marker(point.outcome, x, y) for point, (x, y) in zip(points, coordinates, strict=True))
    base = height - PAD
    # The label is escaped above; everything else is numbers and fixed names.
    return mark_safe(  # noqa: S308
        f'<svg class="trend" role="img" aria-label="{label}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" focusable="false" data-points="{len(points)}"><title>{label}</title>'
        f'<line class="trend-base" x1="{PAD}" y1="{base}" x2="{width - PAD}" y2="{base}"/>'
        f'<polyline class="trend-line" points="{line}"/>{markers}</svg>'
    )


@register.simple_tag
def sparkline(points, width=WIDTH, height=HEIGHT):
    """``{% sparkline row.trend %}``: an inline SVG of the durations of ``points`` (TrendPoint)."""
    return sparkline_svg(list(points or ()), width=int(width), height=int(height))
