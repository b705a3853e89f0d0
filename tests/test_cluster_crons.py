"""Crons in cluster mode (actors/cluster/crons.py): two real processes share the crons and each
schedule fires once, by the process holding the cron leadership; a thread cron whose thread the
other process owns has its runs created (and executed) there."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg
from langgraph_sdk import get_sync_client

from actors.cluster import trust
from actors.cluster.crons import CRON_LOCK
from actors.cluster.trust import PeerTrust, load_secret
from tests.cluster_support import ClusterProcess, cluster_backends, owner_of
from tests.conftest import wait_until
from tests.server_process import STEPS


def test_each_firing_happens_once_whichever_process_owns_the_thread(tmp_path: Path) -> None:
    with cluster_backends() as (database_url, redis_url):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = ClusterProcess(tmp_path / "a", database_url, redis_url)
        b = ClusterProcess(tmp_path / "b", database_url, redis_url)
        try:
            a.start()
            b.start()
            client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
            # One thread owned by each process: whichever leads the crons, one thread is a peer's.
            on_a, on_b = _one_thread_owned_by_each(a, b, client_a, client_b, database_url)

            started = time.monotonic()
            crons = [
                client_a.crons.create_for_thread(thread_id, "one", schedule="* * * * * *", input={"tag": "cron"})
                for thread_id in (on_a, on_b)
            ]
            wait_until(lambda: all(len(client_a.runs.list(t, limit=100)) >= 7 for t in (on_a, on_b)), timeout=60, interval=0.1)
            for cron in crons:
                client_a.crons.delete(cron["cron_id"])
            ticks = time.monotonic() - started + 1  # firings the schedule had (one a second)
            for thread_id in (on_a, on_b):
                runs = [r for r in client_a.runs.list(thread_id, limit=100) if r["metadata"].get("cron_id")]
                assert 6 <= len(runs) <= ticks + 1, (len(runs), ticks)  # fired by both would be ~2x
                wait_until(lambda: all(client_a.runs.get(thread_id, r["run_id"])["status"] == "success" for r in runs), timeout=30)
                owner = owner_of(database_url, thread_id)
                assert owner[1] == 1  # every cron run was created by the thread's owner: it never moved
        finally:
            a.stop()
            b.stop()


AUTH_MODULE = '''
from langgraph_sdk import Auth

auth = Auth()
TOKENS = {"token-alice": "alice", "token-bob": "bob"}


@auth.authenticate
async def authenticate(authorization: str | None):
    token = (authorization or "").removeprefix("Bearer ")
    if token not in TOKENS:
        raise Auth.exceptions.HTTPException(status_code=401, detail="unknown token")
    return {"identity": TOKENS[token], "permissions": ["write"]}


@auth.on
async def owner_only(ctx: Auth.types.AuthContext, value: dict):
    filters = {"owner": ctx.user.identity}
    value.setdefault("metadata", {}).update(filters)
    return filters
'''

USER_FIELDS = ("user_id", "langgraph_auth_user", "langgraph_auth_user_id", "langgraph_auth_permissions")


def test_with_auth_a_cron_on_a_peers_thread_runs_as_its_user_and_clients_cannot_forge_that(tmp_path: Path) -> None:
    """With an `auth` section: a cron on a thread the leader does not own has its run created by the
    owner (signed with the cluster secret, actors/cluster/trust.py) exactly as a local firing is -
    same user fields, same metadata; a client sending the peer headers is refused (401/403)."""
    (tmp_path / "auth.py").write_text(AUTH_MODULE)
    config = tmp_path / "langgraph.json"
    config.write_text(json.dumps({"graphs": {"one": f"{STEPS}:one_step"}, "auth": {"path": "./auth.py:auth"}}))
    with cluster_backends() as (database_url, redis_url):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        a = ClusterProcess(tmp_path / "a", database_url, redis_url)
        b = ClusterProcess(tmp_path / "b", database_url, redis_url)
        a.config = b.config = config
        try:
            a.start()
            b.start()
            alice = {"Authorization": "Bearer token-alice"}
            client_a, client_b = get_sync_client(url=a.url, headers=alice), get_sync_client(url=b.url, headers=alice)
            on_a, on_b = _one_thread_owned_by_each(a, b, client_a, client_b, database_url)

            # One thread of each process: whichever leads the crons, one firing is a peer's.
            crons = [client_a.crons.create_for_thread(t, "one", schedule="* * * * * *", input={"tag": "cron"})
                     for t in (on_a, on_b)]
            assert all(c["user_id"] == "alice" and c["metadata"]["owner"] == "alice" for c in crons)

            def cron_runs(thread_id: str) -> list[dict]:
                return [r for r in client_a.runs.list(thread_id, limit=100) if r["metadata"].get("cron_id")]

            wait_until(lambda: all(len(cron_runs(t)) >= 2 for t in (on_a, on_b)), timeout=60, interval=0.1)
            for cron in crons:
                client_a.crons.delete(cron["cron_id"])
            seen = {}
            for thread_id, cron in zip((on_a, on_b), crons):
                runs = cron_runs(thread_id)
                wait_until(lambda: all(client_a.runs.get(thread_id, r["run_id"])["status"] == "success" for r in runs), timeout=30)
                assert owner_of(database_url, thread_id)[1] == 1  # created by the thread's owner: it never moved
                run = runs[-1]
                assert run["metadata"]["owner"] == "alice" and run["metadata"]["cron_id"] == cron["cron_id"]
                configurable = run["kwargs"]["config"]["configurable"]
                assert configurable["user_id"] == "alice" and configurable["cron_id"] == cron["cron_id"]
                seen[thread_id] = ({k: configurable.get(k) for k in USER_FIELDS},
                                   {k: v for k, v in run["metadata"].items() if k != "cron_id"})
            assert seen[on_a] == seen[on_b]  # the peer's firing is the local firing's twin

            # Clients cannot act for a user with the peer headers, on either process.
            body = {"assistant_id": "one", "input": {"tag": "forged"}}
            for url in (a.url, b.url):
                forged = {trust.USER: "bob", trust.SIGNATURE: f"{int(time.time())}.{'0' * 64}"}
                for headers in (forged, {**forged, **alice}, {trust.USER: "bob"}, {**alice, trust.SIGNATURE: "x"}):
                    response = httpx.post(f"{url}/threads/{on_b}/runs", json=body, headers=headers)
                    assert response.status_code == 401, (headers, response.text)
                wrong_secret = PeerTrust(b"not the cluster secret").sign("POST", f"/threads/{on_b}/runs", "bob", json.dumps(body).encode())
                response = httpx.post(f"{url}/threads/{on_b}/runs", content=json.dumps(body), headers=wrong_secret)
                assert response.status_code == 401
            # Signed with the cluster secret (as a peer does): accepted on the one route it is for,
            # for exactly the body signed, recently.
            peer = PeerTrust(load_secret_from(database_url))
            content = json.dumps(body).encode()
            signed = peer.sign("POST", f"/threads/{on_b}/runs", "alice", content)
            assert httpx.post(f"{a.url}/threads/{on_b}/runs", content=content + b" ", headers=signed).status_code == 401
            stale = PeerTrust(load_secret_from(database_url), clock=lambda: time.time() - 3600)
            old = stale.sign("POST", f"/threads/{on_b}/runs", "alice", content)
            assert httpx.post(f"{a.url}/threads/{on_b}/runs", content=content, headers=old).status_code == 401
            other = peer.sign("GET", f"/threads/{on_b}", "alice", b"")
            assert httpx.get(f"{a.url}/threads/{on_b}", headers=other).status_code == 403
            created = httpx.post(f"{a.url}/threads/{on_b}/runs", content=content, headers=signed)  # via the peer
            assert created.status_code == 200, created.text
            assert client_b.runs.join(on_b, created.json()["run_id"])["messages"][-1] == "forged:0"
        finally:
            a.stop()
            b.stop()


def load_secret_from(database_url: str) -> bytes:
    with psycopg.connect(database_url) as conn:
        return load_secret(conn)


def cron_leader_held(database_url: str) -> bool:
    """Whether some process of this schema holds the cron leadership (crons.CRON_LOCK)."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = %s "
            "AND objid::bigint = (hashtext(current_schema())::bigint & 4294967295) "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            (CRON_LOCK,),
        ).fetchone()
    return bool(row and row[0])


def test_a_firing_whose_owner_died_is_created_by_the_threads_next_owner(tmp_path: Path) -> None:
    """The leader fires a cron on a peer's thread just after that peer was `kill -9`ed (its lease
    still live): the request reaches no one, so the leader routes again - once the dead owner's
    lease lapses it takes the thread itself - and creates the run: the firing is not lost."""
    with cluster_backends() as (database_url, redis_url):
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        # A 4 s lease: b's is surely still live when the cron fires, however late the scheduler is.
        a = ClusterProcess(tmp_path / "a", database_url, redis_url, lease=4.0)
        b = ClusterProcess(tmp_path / "b", database_url, redis_url, lease=4.0)
        try:
            a.start()
            wait_until(lambda: cron_leader_held(database_url), timeout=30)  # a, alone, leads the crons
            b.start()
            client_a, client_b = get_sync_client(url=a.url), get_sync_client(url=b.url)
            on_b = client_b.threads.create()["thread_id"]
            client_b.runs.wait(on_b, "one", input={"tag": "own"})
            b_id = b.process_id(database_url)
            assert owner_of(database_url, on_b) == (b_id, 1)
            on_a = client_a.threads.create()["thread_id"]

            at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=4)
            once = f"{at.minute} {at.hour} * * * {at.second}"  # croniter's 6th field: seconds
            cron = client_a.crons.create_for_thread(on_b, "one", schedule=once, input={"tag": "cron"})  # stored by b
            wake = client_a.crons.create_for_thread(on_a, "one", schedule="0 0 1 1 *")  # a reads the crons again
            assert datetime.fromisoformat(cron["next_run_date"]) == at
            time.sleep(max(0.0, (at - datetime.now(timezone.utc)).total_seconds() - 0.5))
            b.kill()  # half a second before the firing: b's lease is still live then
            wait_until(lambda: any(r["metadata"].get("cron_id") for r in client_a.runs.list(on_b)), timeout=30, interval=0.1)
            [run] = [r for r in client_a.runs.list(on_b) if r["metadata"].get("cron_id")]
            wait_until(lambda: client_a.runs.get(on_b, run["run_id"])["status"] == "success", timeout=30)
            owner = owner_of(database_url, on_b)
            assert owner == (a.process_id(database_url), 2)  # a took the dead owner's thread
            assert "did not answer" in a.log.read_text()  # the first request reached no one
            for made in (cron, wake):
                client_a.crons.delete(made["cron_id"])
        finally:
            a.stop()
            b.stop()


def _one_thread_owned_by_each(a: ClusterProcess, b: ClusterProcess, client_a, client_b, database_url: str) -> tuple[str, str]:
    """A thread A owns and one B owns (each ran a run there): whichever leads the crons, one is a peer's."""
    on_a = client_a.threads.create()["thread_id"]
    client_a.runs.wait(on_a, "one", input={"tag": "own"})
    on_b = client_b.threads.create()["thread_id"]
    client_b.runs.wait(on_b, "one", input={"tag": "own"})
    assert owner_of(database_url, on_a)[0] == a.process_id(database_url)
    assert owner_of(database_url, on_b)[0] == b.process_id(database_url)
    return on_a, on_b
