import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from gloria.data.judge import ExpressionJudge, JudgeError, parse_reply


class FakeServer:
    """OpenAI-compatible /v1/chat/completions on 127.0.0.1; behaviour picked by the request's model name."""

    def __init__(self):
        self.calls: list[dict] = []
        self.count: dict[str, int] = {}
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                model = body["model"]
                n = outer.count[model] = outer.count.get(model, 0) + 1
                parts = body["messages"][0]["content"]
                assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")
                predicted = parts[0]["text"].split("predicted the expression '")[1].split("'")[0]
                if model == "slow" and n == 1:
                    time.sleep(1.0)
                if model == "flaky" and n == 1:
                    return self._send(200, b"this is not json")
                if model == "err500" and n <= 2:
                    return self._send(500, b"{}")
                if model == "garbage":
                    return self._reply("I think it's a cheerful face!")
                if model == "corrector":
                    return self._reply('```json\n{"label": "sad"}\n```')
                if model == "discarder":
                    return self._reply('{"label": "none"}')
                return self._reply(json.dumps({"label": predicted}))

            def _reply(self, content):
                self._send(200, json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode())

            def _send(self, code, data):
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


CROP = np.full((32, 32, 3), 127, np.uint8)


def J(server, model, **kw):
    kw = {"timeout_s": 0.5, "retries": 2, "backoff_s": 0.01, **kw}
    return ExpressionJudge(server.url, model, **kw)


def test_confirm_correct_discard(server):
    v = J(server, "echo", api_key="sk-test").judge(CROP, "happy")
    assert (v.label, v.status) == ("happy", "confirmed")
    assert server.calls[0]["path"] == "/v1/chat/completions" and server.calls[0]["auth"] == "Bearer sk-test"
    assert server.calls[0]["body"]["model"] == "echo"
    assert (J(server, "corrector").judge(CROP, "happy").label, J(server, "corrector").judge(CROP, "angry").status) == ("sad", "corrected")
    v = J(server, "discarder").judge(CROP, "fear")
    assert v.label is None and v.status == "discarded"


def test_timeout_malformed_and_5xx_are_retried(server):
    assert J(server, "slow").judge(CROP, "sad").status == "confirmed" and server.count["slow"] == 2
    assert J(server, "flaky").judge(CROP, "sad").status == "confirmed" and server.count["flaky"] == 2
    assert J(server, "err500").judge(CROP, "sad").status == "confirmed" and server.count["err500"] == 3
    j = J(server, "garbage")
    v = j.judge(CROP, "happy")
    assert v.status == "error" and v.label == "happy" and "no JSON object" in v.detail
    assert server.count["garbage"] == 3 and j.stats["failures"] == 1


def test_unreachable_endpoint_is_an_error_verdict():
    j = ExpressionJudge("http://127.0.0.1:9/v1", "m", timeout_s=0.2, retries=1, backoff_s=0.01)
    v = j.judge(CROP, "happy")
    assert v.status == "error" and "127.0.0.1:9" in v.detail


def test_cache_and_concurrency(server, tmp_path):
    cache = tmp_path / "cache.jsonl"
    crops = [np.full((16, 16, 3), i, np.uint8) for i in range(6)]
    j = J(server, "echo", cache_path=str(cache), concurrency=3)
    out = j.judge_many([(c, "happy") for c in crops])
    assert [v.status for v in out] == ["confirmed"] * 6 and server.count["echo"] == 6
    j2 = J(server, "echo", cache_path=str(cache))  # a new process reading the cache file
    assert all(v.detail == "cached" for v in j2.judge_many([(c, "happy") for c in crops]))
    assert server.count["echo"] == 6 and j2.stats["cache_hits"] == 6
    j2.judge(crops[0], "sad")  # another predicted label is another question
    assert server.count["echo"] == 7


def test_parse_reply():
    mk = lambda c: {"choices": [{"message": {"content": c}}]}  # noqa: E731
    assert parse_reply(mk('{"label": "Happiness"}')) == "happy"
    assert parse_reply(mk([{"type": "text", "text": '{"label":"none"}'}])) is None
    for bad, msg in [({"x": 1}, "no choices"), (mk('{"label": "bored"}'), "not one of"), (mk("{label: sad}"), "invalid JSON")]:
        with pytest.raises(JudgeError, match=msg):
            parse_reply(bad)
    with pytest.raises(ValueError, match="base_url and model"):
        ExpressionJudge("", "m")
