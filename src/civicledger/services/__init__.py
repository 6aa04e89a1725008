"""Command handlers: load state, apply the domain's rules, append the journal entry, commit.

Importing this package registers every mechanism's handlers and projectors.
"""

from civicledger.services import circles, core, creditism, credits, gears  # noqa: F401  (registers handlers and projectors)
