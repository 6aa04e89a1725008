"""Gears: citizens' votes set each company's Common Good Coefficient (rules GR1-GR11).

A company (an organization account) registers, publishes up to 20 short factual statements and a
question bank. Verified persons pass a short test on the company and vote +1, 0 or -1; each vote
counts for one year. From the current votes and the companies' trailing-year sales G_i,

    V_i = mean of company i's current votes
    S   = sum(G_i V_i) / sum(G_i)          over companies with current votes
    delta_i = k (V_i - S)                  (k = 30 by policy)

so that sum_i G_i delta_i = 0 exactly: what the Common Good Fund pays to companies above the
average it receives from companies below it. A buyer always pays the price p; the seller receives
p (1 + delta/100); the fund pays or receives the difference and never goes below zero (what it
cannot pay waits in a queue, in order). Anyone may blow the whistle on a statement; voters judge
it, and a misleading or false statement costs the company a month or a year of sales, paid to
the whistleblower.

Its rules are pure code: exact arithmetic (``fractions.Fraction`` and integers of a minor unit),
no I/O, no clock (``policy`` holds the ``GearsPolicy`` section; ``coefficient`` the arithmetic
(GR1, GR5, GR6, GR9); ``rules`` the checks (GR2-GR4, GR7, GR8); ``commands`` and ``events`` the
messages); ``state`` holds the typed records, ``handlers`` applies the rules to the journal, and
the README maps every rule to its code and tests.
"""

from civicledger.kernel.registry import Mechanism
from civicledger.mechanisms.gears.policy import GearsPolicy, check_gears_policy

MECHANISM = Mechanism(
    name="gears",
    title="Gears: the Common Good Coefficient",
    rule_prefix="GR",
    position=1,
    policy=GearsPolicy,
    policy_checks=(check_gears_policy,),
    modules=("civicledger.mechanisms.gears.handlers",),
    api="civicledger.mechanisms.gears.api:router",
    pages="civicledger.mechanisms.gears.pages:install",
    cli="civicledger.mechanisms.gears.cli:gears_app",
    sim="civicledger.mechanisms.gears.sim:GearsSector",
    demo="civicledger.mechanisms.gears.demo:gears",
)
