"""The actor kernel: dispatchers, the graph loop, run streams, the thread registry, passivation, reply futures."""
