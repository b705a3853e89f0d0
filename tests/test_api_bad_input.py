"""Bad input gets a clear 4xx naming the field and the problem: never a 500, a hang or lost data."""

from __future__ import annotations

import httpx
import pytest

SEED_CURL_BODY = """{
  \"assistant_id\": \"agent\",
  \"input\": {\"messages\": [{\"role\": \"human\", \"content\": \"what\\'s the weather in sf?\"}]},
}"""


@pytest.fixture
def http(live_server):
    with httpx.Client(base_url=live_server.url, timeout=10) as session:
        yield session


@pytest.fixture
def thread_id(http):
    return http.post("/threads", json={}).json()["thread_id"]


def test_the_seed_curl_body_gets_a_400_saying_where_the_json_breaks(http, thread_id):
    response = http.post(f"/threads/{thread_id}/runs", content=SEED_CURL_BODY, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "invalid escape" in detail and "line 3" in detail
    fixed = SEED_CURL_BODY.replace("\\'", "'")
    response = http.post(f"/threads/{thread_id}/runs", content=fixed)
    assert response.status_code == 400
    assert "trailing comma" in response.json()["detail"] and "line 4" in response.json()["detail"]
    assert http.get(f"/threads/{thread_id}/runs").json() == [], "a rejected request leaves no run behind"


@pytest.mark.parametrize(
    "body,field",
    [
        ({"assistant_id": "one", "multitask_strategy": "sometimes"}, "multitask_strategy"),
        ({"assistant_id": "one", "stream_mode": "everything"}, "stream_mode"),
        ({"assistant_id": "one", "metadata": "not-an-object"}, "metadata"),
        ({"assistant_id": "one", "if_not_exists": "maybe"}, "if_not_exists"),
        ({"assistant_id": "one", "after_seconds": "soon"}, "after_seconds"),
        ({"assistant_id": 42}, "assistant_id"),
        ({"input": {}}, "assistant_id"),
    ],
)
def test_invalid_run_fields_are_422_naming_the_field(http, thread_id, body, field):
    response = http.post(f"/threads/{thread_id}/runs", json=body)
    assert response.status_code == 422
    assert field in response.json()["detail"]


def test_unknown_assistant_is_422_listing_the_graphs(http, thread_id):
    response = http.post(f"/threads/{thread_id}/runs", json={"assistant_id": "nope"})
    assert response.status_code == 422
    assert "Invalid assistant: 'nope'" in response.json()["detail"] and "steps" in response.json()["detail"]


def test_unknown_thread_is_404(http):
    response = http.post("/threads/3f0c8a8e-0d1c-4c43-a2a3-000000000000/runs", json={"assistant_id": "one"})
    assert response.status_code == 404
    assert response.json() == {"detail": "Thread or assistant not found."}


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/threads/not-a-uuid"),
        ("POST", "/threads/not-a-uuid/runs"),
        ("GET", "/threads/00000000-0000-0000-0000-000000000000/runs/xyz"),
        ("POST", "/threads/00000000-0000-0000-0000-000000000000/runs/xyz/cancel"),
    ],
)
def test_malformed_ids_are_422_naming_the_parameter(http, method, path):
    response = http.request(method, path, json={"assistant_id": "one"})
    assert response.status_code == 422
    assert "not a valid UUID" in response.json()["detail"]


def test_unknown_run_is_404_on_get_join_and_cancel(http, thread_id):
    missing = "00000000-0000-0000-0000-00000000abcd"
    for method, suffix in (("GET", ""), ("GET", "/join"), ("POST", "/cancel")):
        response = http.request(method, f"/threads/{thread_id}/runs/{missing}{suffix}")
        assert response.status_code == 404, suffix


def test_wrong_query_parameters_are_422(http, thread_id):
    run = http.post(f"/threads/{thread_id}/runs", json={"assistant_id": "one", "input": {"tag": "q"}}).json()
    response = http.post(f"/threads/{thread_id}/runs/{run['run_id']}/cancel", params={"action": "explode"})
    assert response.status_code == 422 and "action" in response.json()["detail"]
    response = http.get(f"/threads/{thread_id}/runs", params={"limit": "many"})
    assert response.status_code == 422 and "limit" in response.json()["detail"]


def test_body_that_is_not_an_object_is_422(http, thread_id):
    response = http.post(f"/threads/{thread_id}/runs", json=["assistant_id", "one"])
    assert response.status_code == 422
    response = http.post("/threads", content=b"nonsense")
    assert response.status_code == 400


def test_thread_create_validates_its_fields(http):
    assert http.post("/threads", json={"thread_id": "abc"}).status_code == 422
    assert http.post("/threads", json={"if_exists": "explode"}).status_code == 422
    tid = http.post("/threads", json={}).json()["thread_id"]
    duplicate = http.post("/threads", json={"thread_id": tid})
    assert duplicate.status_code == 409
    assert http.post("/threads", json={"thread_id": tid, "if_exists": "do_nothing"}).status_code == 200
