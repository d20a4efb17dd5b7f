"""The web dashboard of ``serve --http``: :mod:`~openclaw.web.app` (the API, the event stream,
the pages) and :mod:`~openclaw.web.board` (what ``serve`` last saw, and the feed of changes);
the page, its script and its style sheet in ``static/``, shipped in the wheel (no build step)."""
