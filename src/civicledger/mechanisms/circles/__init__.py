"""Circles basic income (SPEC CI1-CI15): personal currencies joined by trust, groups, routed payments.

``policy`` holds the ``[circles]`` section and its presets, ``messages`` the commands and events,
``rules`` income, trust and payment rules, ``routing`` how a max-flow becomes an ordered payment plan.
"""

from civicledger.kernel.registry import Mechanism
from civicledger.mechanisms.circles.policy import CirclesPolicy

MECHANISM = Mechanism(
    name="circles",
    title="Circles basic income",
    rule_prefix="CI",
    position=2,
    policy=CirclesPolicy,
    policy_checks=(),
    modules=("civicledger.mechanisms.circles.handlers",),
    api="civicledger.mechanisms.circles.api:router",
    pages="civicledger.mechanisms.circles.pages:install",
    cli="civicledger.mechanisms.circles.cli:circles_app",
    sim="civicledger.mechanisms.circles.sim:CirclesSector",
    demo="civicledger.mechanisms.circles.demo:circles",
)
