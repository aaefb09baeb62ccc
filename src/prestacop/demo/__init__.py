"""``prestacop demo``: the runtime, the simulator and every service, with live counts."""
