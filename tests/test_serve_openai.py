"""The OpenAI-compatible routes of `sqltune serve`, through the official `openai` client against a running server:
models are the adapters, a chat completion answers the last user message with the guarded SQL of
/v1/sql, errors come in OpenAI's shape."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from sqltune.serve import ServeSettings, create_app
from sqltune.serve.testing import FakeGenerator, build_demo_warehouse, running_server

ANSWERS = {"how many ships": "SELECT count(*) AS n FROM ships", "wipe the ports": "TRUNCATE ports"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("openai")
    generator = FakeGenerator(dict(ANSWERS), adapters=["harbor", "finance"])
    settings = ServeSettings(db=str(build_demo_warehouse(root / "wh.duckdb")), default_adapter="harbor",
                             audit_log=str(root / "audit.jsonl"), max_question_chars=500, query_timeout_s=2.0)
    with running_server(create_app(settings, generator)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="not-checked", max_retries=0, timeout=30)
        yield {"url": url, "client": client, "generator": generator, "audit": root / "audit.jsonl"}


def test_models_are_the_adapters_and_default(server):
    assert [m.id for m in server["client"].models.list()] == ["harbor", "finance", "default"]


def test_the_last_user_message_gets_the_sql_of_v1_sql(server):
    client, generator = server["client"], server["generator"]
    completion = client.chat.completions.create(
        model="finance", temperature=0.7, max_tokens=64,
        messages=[{"role": "system", "content": "You write SQL."}, {"role": "user", "content": "wipe the ports"},
                  {"role": "assistant", "content": "..."}, {"role": "user", "content": "how many ships"}])
    choice = completion.choices[0]
    assert choice.message.content == ANSWERS["how many ships"] and choice.finish_reason == "stop"
    assert completion.model == "finance" and generator.calls[-1] == ("how many ships", "finance")
    extra = completion.to_dict()["sqltune"]
    assert extra["valid"] is True and extra["adapter"] == "finance"
    same = httpx.post(f"{server['url']}/v1/sql", json={"question": "how many ships", "adapter": "finance"}).json()
    assert same["sql"] == choice.message.content and same["valid"] is True

    client.chat.completions.create(model="default", messages=[{"role": "user", "content": [{"type": "text", "text": "how many ships"}]}])
    assert generator.calls[-1] == ("how many ships", "harbor")  # the server's default adapter


def test_sql_the_guard_refuses_is_not_the_message(server):
    completion = server["client"].chat.completions.create(model="harbor", messages=[{"role": "user", "content": "wipe the ports"}])
    choice = completion.choices[0]
    assert choice.message.content is None and choice.finish_reason == "content_filter"
    extra = completion.to_dict()["sqltune"]
    assert extra["valid"] is False and extra["sql"] == "TRUNCATE ports" and extra["validation_error"]["code"]


def test_an_unknown_model_is_openais_404(server):
    with pytest.raises(openai.NotFoundError) as caught:
        server["client"].chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "how many ships"}])
    error = caught.value
    assert error.status_code == 404 and error.code == "model_not_found" and error.type == "invalid_request_error"
    assert error.param == "model" and "harbor, finance, default" in error.message


@pytest.mark.parametrize("payload, status, code, param", [
    ({"model": "harbor", "messages": []}, 422, "invalid_request", "messages"),
    ({"model": "harbor", "messages": [{"role": "system", "content": "x"}]}, 400, "no_user_message", "messages"),
    ({"model": "harbor", "messages": [{"role": "user", "content": "how many ships"}], "stream": True}, 400, "unsupported_parameter", "stream"),
    ({"model": "harbor", "messages": [{"role": "user", "content": "how many ships"}], "n": 3}, 400, "unsupported_parameter", "n"),
    ({"model": "harbor", "messages": [{"role": "user", "content": "   "}]}, 422, "empty_question", None),
    ({"model": "harbor", "messages": [{"role": "user", "content": "x" * 600}]}, 413, "question_too_long", None),
    ({"model": "harbor", "messages": [{"role": "user", "content": "x" * 40_000}]}, 413, "payload_too_large", None),
])
def test_errors_come_in_openais_shape(server, payload, status, code, param):
    response = httpx.post(f"{server['url']}/v1/chat/completions", json=payload)
    assert response.status_code == status, response.text
    assert response.json() == {"error": {"message": response.json()["error"]["message"], "type": "invalid_request_error",
                                         "param": param, "code": code}}
    assert response.json()["error"]["message"]


def test_the_openai_client_reads_a_bad_request(server):
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        server["client"].chat.completions.create(model="harbor", messages=[])
    assert caught.value.param == "messages" and caught.value.type == "invalid_request_error"


def test_sqltunes_own_route_keeps_its_error_shape(server):
    response = httpx.post(f"{server['url']}/v1/sql", json={"question": "how many ships", "adapter": "nope"})
    assert response.status_code == 404 and set(response.json()["error"]) == {"code", "message"}


def test_each_question_gets_an_audit_line(server):
    server["client"].chat.completions.create(model="finance", messages=[{"role": "user", "content": "how many ships"}])
    lines = [json.loads(line) for line in server["audit"].read_text().splitlines()]
    last = lines[-1]
    assert last["status"] == 200 and last["model"] == "finance" and last["adapter"] == "finance"
    assert last["question"] == "how many ships" and last["sql"] == ANSWERS["how many ships"] and last["valid"] is True
