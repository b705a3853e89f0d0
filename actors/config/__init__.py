"""Configuration: graphs and their loading, langgraph.json, graph factories, auth handlers, settings, the store index."""
