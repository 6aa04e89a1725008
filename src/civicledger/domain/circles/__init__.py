"""Circles basic income (SPEC CI1-CI15): personal currencies joined by trust, groups, routed payments.

``policy`` holds the ``[circles]`` section and its presets, ``messages`` the commands and events,
``rules`` income, trust and payment rules, ``routing`` how a max-flow becomes an ordered payment plan.
"""
