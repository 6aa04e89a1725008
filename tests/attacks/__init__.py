"""Attacks on the rules by their own participants (SPEC IN): each test plays one attack through the
engine (and, where a client would, through the CLI or HTTP) and shows it gains nothing, checking the
journal and balances afterwards. Tests are named after the IN rule that stops the attack."""
