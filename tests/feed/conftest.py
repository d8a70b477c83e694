"""Fixtures: the fake exchange (`make_sim`, from the simulator's tests) for the feed's tests."""

from tests.sim.conftest import make_sim

__all__ = ["make_sim"]
