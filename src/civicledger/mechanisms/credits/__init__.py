"""L7 social credits (SC1-SC11): non-tradable credits for essential services, graded by participation.

Quantity is a pure function of a verified person's date of birth and the annual allocation (SC2),
minus what they spent (SC3). Quality is a pure function of their recorded history: grade
adjustments with a start and an end, appeals that cut an adjustment short, decay since the last
qualifying participation and lottery uplifts (SC4-SC9). Nothing here moves credits between
holders, and credits are never a ledger currency.

Modules: ``policy`` (the ``CreditsPolicy`` section), ``values`` (history and standing),
``commands``, ``events`` and ``rules`` (the pure evaluation and every check).
"""

from civicledger.kernel.registry import Mechanism
from civicledger.mechanisms.credits.policy import CreditsPolicy

MECHANISM = Mechanism(
    name="credits",
    title="L7 social credits",
    rule_prefix="SC",
    position=3,
    policy=CreditsPolicy,
    policy_checks=(),
    modules=("civicledger.mechanisms.credits.handlers",),
    api="civicledger.mechanisms.credits.api:router",
    pages="civicledger.mechanisms.credits.pages:install",
    cli="civicledger.mechanisms.credits.cli:credits_app",
    sim="civicledger.mechanisms.credits.sim:CreditsSector",
    demo="civicledger.mechanisms.credits.demo:credits_life",
)
