"""Parts of the memo (:mod:`abkit.report.memo`) that stand alone: a figure as an inline SVG
image, and the "Does it last?" section (the effect by time since first exposure)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from abkit.core.formatting import format_p

__all__ = ["exposure_section", "svg_image"]


def svg_image(figure: Any, alt: str, element_id: str = "") -> str:
    """A matplotlib figure as an ``<img>`` holding its SVG (the memo is one self-contained
    page); the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    identity = f' id="{element_id}"' if element_id else ""
    return (
        f'<img class="figure"{identity} alt="{html.escape(alt, quote=True)}" '
        f'src="data:image/svg+xml;base64,{data}">'
    )


def exposure_section(result: Any) -> str:
    """Does it last: the primary metrics' effect by time since first exposure with the trend
    test's line (:mod:`abkit.analysis.novelty`), and a warning when it decays."""
    from abkit.report.plots import exposure_plot

    trends = result.novelty
    if result.exposure_effects.empty:
        notes = "; ".join(str(n) for n in trends.get("note", []) if n)
        return f"<p>{html.escape(notes or 'no exposure periods to compare')}</p>"
    decays = trends[trends["decaying"].astype(bool)]
    lead = (
        "".join(
            f'<p class="warning">The effect on {html.escape(row.metric)} decays with exposure: '
            f"{row.slope:+.3g} per {row.period_days}-day period since a user's first dialog "
            f"(p {html.escape(format_p(row.p_value))}). A novelty effect may fade after launch.</p>"
            for row in decays.itertuples()
        )
        or "<p>No primary metric's effect changes significantly with exposure.</p>"
    )
    figure = exposure_plot(result.exposure_effects, trends)[0].figure
    image = svg_image(figure, "effect by days since first exposure with its trend")
    return f'<section id="exposure">{lead}{image}</section>'
