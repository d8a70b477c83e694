"""Tests of the local fake Binance exchange (monitor/sim)."""
