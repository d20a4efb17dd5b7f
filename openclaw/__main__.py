"""Allow ``python -m openclaw``."""

from openclaw.program import main

main()
