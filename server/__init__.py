"""switchboard's HTTP layer: a thin Starlette app over the actor system (validate, route, encode)."""
