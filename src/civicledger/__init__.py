"""civicledger: runs, audits and simulates an economy of basic income, social credits,
the Common Good Coefficient and transparent prices, on one signed public journal."""

__version__ = "0.2.0"
