"""A fleet of simulated drones flying New York streets through the drone SDK.

``Simulator`` drives N ``DroneClient``s over one shared connection: positions
along real street segments, batteries that drain and recharge, violations with
a small real PNG of the vehicle, and about 1% that ask an officer for review.
"""

from prestacop.simulator.fleet import SimulationOptions, Simulator, SimulatorStats

__all__ = ["SimulationOptions", "Simulator", "SimulatorStats"]
