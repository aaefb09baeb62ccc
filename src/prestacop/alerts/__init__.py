"""The officer's side of human-review alerts: ports, the desk service, drone control."""
