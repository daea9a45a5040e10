"""The chat page's API over the real tiny model: streaming, SQLite storage, the crisis guard."""

from __future__ import annotations

import json

import pytest

from darija_assets.serving.chat_app import build_app, chat_messages
from darija_assets.serving.crisis import CRISIS_ANSWER, CrisisGuard
from darija_assets.serving.store import ChatStore, NotFound
from darija_assets_tests.serving.conftest import PATIENT_TEXT, TRAINED_ANSWER


class CountingResponder:
    """The real responder, recording each time the model is asked and with what."""

    def __init__(self, responder):
        self.responder, self.calls, self.histories = responder, 0, []

    def __call__(self, history):
        self.calls += 1
        self.histories.append(list(history))
        return self.responder(history)


@pytest.fixture()
def client(tmp_path, tiny_responder):
    from starlette.testclient import TestClient

    responder = CountingResponder(tiny_responder)
    store = ChatStore(tmp_path / "chat.sqlite")
    with TestClient(build_app(store, responder, CrisisGuard())) as test_client:
        test_client.responder, test_client.store = responder, store
        yield test_client


def events(response) -> list[dict]:
    assert response.headers["content-type"].startswith("text/event-stream")
    return [json.loads(block[6:]) for block in response.text.split("\n\n") if block]


def conversation(client) -> int:
    user = client.post("/api/users", json={}).json()["user_id"]
    return client.post("/api/conversations", json={"user_id": user}).json()["conversation_id"]


def test_an_answer_streams_and_is_stored(client):
    cid = conversation(client)
    stream = events(
        client.post(f"/api/conversations/{cid}/messages", json={"content": PATIENT_TEXT})
    )
    tokens, done = [e["token"] for e in stream if "token" in e], stream[-1]
    assert done["done"] is True and done["crisis"] is False
    assert len(tokens) >= 1 and client.responder.calls == 1
    stored = client.get(f"/api/conversations/{cid}/messages").json()
    assert [m["role"] for m in stored] == ["user", "assistant"]
    assert stored[1]["content"] == "".join(tokens).strip()
    assert stored[1]["id"] == done["message_id"]
    # the trained adapter's answer, streamed piece by piece
    assert stored[1]["content"].startswith(TRAINED_ANSWER[:10]), stored[1]["content"]
    # a second turn sends the whole conversation
    client.post(f"/api/conversations/{cid}/messages", json={"content": "وزيد"})
    assert len(client.get(f"/api/conversations/{cid}/messages").json()) == 4


def test_a_crisis_message_gets_the_fixed_answer_and_never_reaches_the_model(client):
    cid = conversation(client)
    stream = events(
        client.post(f"/api/conversations/{cid}/messages", json={"content": "bghit nmout"})
    )
    assert stream[0]["token"] == CRISIS_ANSWER and stream[-1]["crisis"] is True
    assert client.responder.calls == 0
    stored = client.get(f"/api/conversations/{cid}/messages").json()
    assert stored[1]["content"] == CRISIS_ANSWER and stored[1]["crisis"] is True
    assert stored[0]["crisis"] is True
    # the next ordinary message reaches the model, without the crisis exchange in its prompt
    client.post(f"/api/conversations/{cid}/messages", json={"content": PATIENT_TEXT})
    assert client.responder.calls == 1 and client.responder.histories[-1] == [
        {"role": "user", "content": PATIENT_TEXT}
    ]


def test_bad_requests_get_clear_errors(client):
    assert client.get("/api/conversations/999/messages").status_code == 404
    assert client.post("/api/conversations", json={"user_id": 999}).status_code == 404
    assert client.post("/api/conversations", json={}).status_code == 400
    cid = conversation(client)
    empty = client.post(f"/api/conversations/{cid}/messages", json={"content": "  "})
    assert empty.status_code == 400 and "error" in empty.json()
    assert client.post("/api/conversations/999/messages", json={"content": "x"}).status_code == 404


def test_the_page_says_it_is_not_a_therapist_and_renders_arabic_right_to_left(client):
    page = client.get("/").text
    assert "This is not a licensed therapist" in page and "ماشي طبيب نفساني مرخّص" in page
    assert 'dir="auto"' in page and 'dir="rtl"' in page


def test_store_keeps_users_conversations_and_messages(tmp_path):
    store = ChatStore(tmp_path / "c.sqlite")
    user = store.add_user("amal")
    first = store.add_conversation(user)
    store.add_message(first, "user", "سلام " * 40)
    store.add_message(first, "assistant", "وعليكم السلام")
    reopened = ChatStore(tmp_path / "c.sqlite")
    (listed,) = reopened.conversations(user)
    assert listed["id"] == first and listed["title"] == ("سلام " * 40).strip()[:60]
    assert [m["role"] for m in reopened.messages(first)] == ["user", "assistant"]
    with pytest.raises(NotFound):
        store.add_conversation(user + 1)
    with pytest.raises(Exception, match="CHECK"):
        store.add_message(first, "system", "x")


def test_history_is_formatted_as_trained_and_trimmed_to_fit(tiny_responder):
    history = [
        {"role": "user", "content": "أول"},
        {"role": "assistant", "content": "جواب"},
        {"role": "user", "content": "ثاني"},
    ]
    turns = chat_messages(history)
    assert turns[0]["content"].endswith('Patient says: "أول"') and turns[2]["content"] == "ثاني"
    long = [{"role": r, "content": "كلام " * 60} for r in ("user", "assistant") * 4]
    ids = tiny_responder.prompt_ids(long + [{"role": "user", "content": "آخر"}])
    assert len(ids) <= tiny_responder.max_prompt_tokens
