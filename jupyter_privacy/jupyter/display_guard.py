"""What is shown instead of a raw frame that was registered as a sensitive source."""

from __future__ import annotations

import html

from jupyter_privacy.core.release import Estimate


def guard_text(source: str) -> str:
    return (
        f"Refused to display a raw frame on '{source}': it was registered as a sensitive source.\n"
        f"Try: jp.source('{source}').describe()   or   jp.source('{source}')"
    )


def guard_html(source: str) -> str:
    return f'<pre class="jpp-refusal">{html.escape(guard_text(source))}</pre>'


def estimate_html(estimate: Estimate) -> str:
    return f'<pre class="jpp-estimate">{html.escape(repr(estimate))}</pre>'
