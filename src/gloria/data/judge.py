"""MLLM judge for expression anchors (paper §7.1): verify, correct or discard each candidate.

Talks to any OpenAI-compatible `POST {base_url}/chat/completions` endpoint with image input
(an `image_url` part holding a base64 PNG data URL). The model must answer with JSON
`{"label": "<one of the 8 expressions>"}` or `{"label": "none"}` when the face shows none of them.
Verdicts are cached (JSON lines keyed by image hash + model + predicted label + prompt version),
requests run concurrently with per-request timeouts and retries with exponential backoff; a reply
that is not valid JSON with a known label counts as a failed attempt.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gloria.models.anchors import EXPRESSIONS

PROMPT_VERSION = "1"
PROMPT = (
    "You verify facial-expression labels for a dataset. The image is a head crop from a video frame. "
    "A classifier predicted the expression '{label}'. Which ONE of these expressions does the face "
    "show: " + ", ".join(EXPRESSIONS) + "? If the face shows none of them clearly (or there is no "
    'clear face), answer none. Reply with JSON only, exactly like {{"label": "happy"}} or {{"label": "none"}}.'
)


@dataclass
class Verdict:
    """label: the verified/corrected expression, or None to discard; status: confirmed | corrected | discarded | error."""

    label: str | None
    status: str
    detail: str = ""


class JudgeError(Exception):
    pass


def parse_reply(body: dict) -> str | None:
    """Expression label (or None for "none") from a chat-completions response; raises JudgeError if malformed."""
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise JudgeError(f"malformed response: no choices[0].message.content in {str(body)[:200]}") from None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if not isinstance(content, str):
        raise JudgeError(f"malformed response: content is {type(content).__name__}")
    m = re.search(r"\{.*\}", content, re.S)
    if not m:
        raise JudgeError(f"malformed reply (no JSON object): {content[:200]!r}")
    try:
        label = json.loads(m.group(0)).get("label")
    except (json.JSONDecodeError, AttributeError):
        raise JudgeError(f"malformed reply (invalid JSON): {content[:200]!r}") from None
    if not isinstance(label, str):
        raise JudgeError(f"malformed reply (no string 'label'): {content[:200]!r}")
    label = label.strip().lower()
    aliases = {"anger": "angry", "happiness": "happy", "sadness": "sad", "surprised": "surprise",
               "disgusted": "disgust", "fearful": "fear", "scared": "fear"}
    label = aliases.get(label, label)
    if label == "none":
        return None
    if label not in EXPRESSIONS:
        raise JudgeError(f"reply label {label!r} is not one of {list(EXPRESSIONS)} or 'none'")
    return label


def png_bytes(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buf, format="PNG")
    return buf.getvalue()


class ExpressionJudge:
    """Client for one endpoint. `base_url` like http://host:port/v1; key read from env `api_key_env`."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 30.0,
                 retries: int = 3, backoff_s: float = 1.0, concurrency: int = 4, cache_path: str | None = None):
        if not base_url or not model:
            raise ValueError("judge: base_url and model are required (config judge.base_url / judge.model, "
                             "or env GLORIA_JUDGE_URL / GLORIA_JUDGE_MODEL)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key = model, api_key
        self.timeout_s, self.retries, self.backoff_s = timeout_s, max(0, retries), backoff_s
        self.concurrency = max(1, concurrency)
        self.cache_path = Path(cache_path) if cache_path else None
        self._cache: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "cache_hits": 0, "failures": 0}
        if self.cache_path and self.cache_path.is_file():
            for line in self.cache_path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    self._cache[rec["key"]] = rec
                except (json.JSONDecodeError, KeyError):
                    continue  # a torn last line from an interrupted run

    @classmethod
    def from_config(cls, jc, default_cache: str | None = None) -> "ExpressionJudge":
        return cls(jc.base_url or os.environ.get("GLORIA_JUDGE_URL", ""), jc.model or os.environ.get("GLORIA_JUDGE_MODEL", ""),
                   os.environ.get(jc.api_key_env), jc.timeout_s, jc.retries, jc.backoff_s, jc.concurrency,
                   jc.cache or default_cache)

    def _key(self, png: bytes, label: str) -> str:
        return hashlib.sha256(png + f"|{self.model}|{label}|{PROMPT_VERSION}".encode()).hexdigest()

    def _request(self, png: bytes, label: str) -> str | None:
        payload = {
            "model": self.model,
            "temperature": 0,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": PROMPT.format(label=label)},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}},
            ]}],
        }
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            with self._lock:
                self.stats["requests"] += 1
            req = urllib.request.Request(self.url, json.dumps(payload).encode(), headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    body = json.loads(resp.read().decode("utf-8", "replace"))
                return parse_reply(body)
            except urllib.error.HTTPError as err:
                last = JudgeError(f"HTTP {err.code} from {self.url}")
                if err.code < 500 and err.code != 429:
                    break  # a client error will not fix itself
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
                last = JudgeError(f"{type(err).__name__} talking to {self.url}: {err}")
            except (json.JSONDecodeError, UnicodeDecodeError):
                last = JudgeError("malformed response: body is not JSON")
            except JudgeError as err:
                last = err
        raise last or JudgeError("no attempt made")

    def judge(self, crop: np.ndarray, predicted: str) -> Verdict:
        """Verify one head crop (RGB uint8) labelled `predicted`."""
        png = png_bytes(crop)
        key = self._key(png, predicted)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            with self._lock:
                self.stats["cache_hits"] += 1
            return Verdict(hit["label"], hit["status"], "cached")
        try:
            label = self._request(png, predicted)
        except JudgeError as err:
            with self._lock:
                self.stats["failures"] += 1
            return Verdict(predicted, "error", str(err))
        status = "discarded" if label is None else ("confirmed" if label == predicted else "corrected")
        rec = {"key": key, "label": label, "status": status, "predicted": predicted, "model": self.model}
        with self._lock:
            self._cache[key] = rec
            if self.cache_path:
                self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                with open(self.cache_path, "a") as f:  # one short line per write: safe to append from many processes
                    f.write(json.dumps(rec) + "\n")
        return Verdict(label, status)

    def judge_many(self, items: list[tuple[np.ndarray, str]]) -> list[Verdict]:
        """Judge (crop, predicted) pairs concurrently (`concurrency` requests in flight); order preserved."""
        if not items:
            return []
        with ThreadPoolExecutor(max_workers=self.concurrency) as ex:
            return list(ex.map(lambda it: self.judge(*it), items))
