"""A fifth mechanism that lives only in the tests: tallies.

A person keeps named tallies (trees planted, hours volunteered) and adds to them; policy caps one
addition (rule TA1). It is small on purpose and complete in shape: a policy section with a
cross-field check, a command and an event, a handler and a projector, a read model, a CLI group,
an API router, a page card and a demo chapter, all registered through one ``Mechanism``, so a test
can show that a mechanism plugs in without a line of the kernel or the four mechanisms changed.
"""

from __future__ import annotations

from civicledger.kernel.registry import Mechanism
from tests.fifth_mechanism.policy import TalliesPolicy, check_tallies_policy

MECHANISM = Mechanism(
    name="tallies",
    title="Tallies (a test mechanism)",
    rule_prefix="TA",
    position=9,
    policy=TalliesPolicy,
    policy_checks=(check_tallies_policy,),
    modules=("tests.fifth_mechanism.handlers",),
    api="tests.fifth_mechanism.api:router",
    pages="tests.fifth_mechanism.pages:install",
    cli="tests.fifth_mechanism.cli:tallies_app",
    demo="tests.fifth_mechanism.demo:tallies",
)
