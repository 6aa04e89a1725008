"""Creditism (SPEC CR1-CR14, seed 001): resources, externality scores, sustainable rates, prices.

A council describes each asset (a resource it extracts or a good its cooperatives produce), scores
the harm of processing it (the externality score E, CR2-CR4), and derives how much may be
extracted or produced each year (CR5-CR8). Prices (CR10-CR12) add labour, indirect resources, an
externality fee, the council's and the cooperative's markups and a scarcity factor (demand over
supply); inputs are bought at their own market prices, so a price embeds its whole supply chain.

Everything here is exact (``fractions.Fraction``) and stdlib only:

- ``values``   quantities as text ("0.61", "3/4"), asset kinds, the six price components;
- ``rules``    the formulas of CR2-CR11 and CR13, one function per rule;
- ``chain``    the supply chain as one linear system, solved exactly (CR12), and the rounding of
               every price into components that sum to it to the minor unit;
- ``policy``   the ``creditism`` policy section;
- ``commands`` / ``events``  the journal entries of the workflow (CR14).
"""

from civicledger.kernel.registry import Mechanism
from civicledger.mechanisms.creditism.policy import CreditismPolicy

MECHANISM = Mechanism(
    name="creditism",
    title="Creditism: prices that tell their costs",
    rule_prefix="CR",
    position=4,
    policy=CreditismPolicy,
    policy_checks=(),
    modules=("civicledger.mechanisms.creditism.handlers",),
    api="civicledger.mechanisms.creditism.api:router",
    pages="civicledger.mechanisms.creditism.pages:install",
    cli="civicledger.mechanisms.creditism.cli:creditism_app",
    sim="civicledger.mechanisms.creditism.sim:CreditismSector",
    demo="civicledger.mechanisms.creditism.demo:creditism",
)
