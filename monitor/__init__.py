"""marginwatch: a live Binance account monitor that warns before liquidation."""

__version__ = "0.1.0"
