"""Circles basic income (SPEC CI1-CI15): personal currencies joined by trust, groups, routed payments.

``policy`` holds the ``[circles]`` section and its presets, ``messages`` the commands and events,
``rules`` income, trust and payment rules, ``routing`` how a max-flow becomes an ordered payment plan.
"""

# The policy tree imports this package's policy section; importing the tree first keeps that
# import order the same whichever module a caller imports first.
import civicledger.domain.policy  # noqa: F401
