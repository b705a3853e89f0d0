"""Cluster mode (issue 12): several `switchboard serve` processes on one PostgreSQL database, with
Redis for wake-ups. Each thread is owned by one live process at a time (ownership with epochs,
fenced writes); requests for a thread are served by its owner (server/forwarding.py); a dead
process's threads are taken over. See docs/architecture.md ("One process or a cluster") and
docs/storage.md ("Cluster")."""
