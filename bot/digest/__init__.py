"""Owners' digests: compute (compose), word (render, templates) and draw (chart) one period.

Sending a digest: `compose_digest(...)` -> `Digest`; if `digest_chart(digest, lang)` gives
a PNG, send it as a photo with `caption(digest, lang)`; then send each text of
`render_digest(digest, lang)` in order, all with parse_mode=HTML.
"""
