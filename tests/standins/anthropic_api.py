"""Stand-in for the Anthropic Messages API: ``POST /v1/messages`` (JSON or SSE streaming).

It checks what a real API checks that matters here (key in ``Authorization: Bearer`` or
``x-api-key``, ``anthropic-version``, a well-formed body, no sampling parameters / prefill / forced
tool choice / thinking budgets for 5.x models, ``additionalProperties: false`` on every object of
``output_config.format.schema``) and answers with a reply that a deterministic "model" writes from
the request: the task line ``Segment: <kind>``, the length asked for ("between L and H lines, about
C characters") and the JSON inside ``<..._data>`` tags. Replies hold a thinking block before the
text block; usage counts tokens as characters / 4, with the system prompt written to (first time)
or read from (later) the prompt cache when it carries ``cache_control`` and is long enough.

Extra fault kinds: ``rate_limit`` (429), ``overloaded`` (529), ``server_error`` (500),
``unknown_bill`` (the script names a bill not in the request; ``label=`` chooses how it is written), ``max_tokens`` (the reply is cut off),
``short`` (one short line), ``no_disclosure`` (a close without the AI disclosure),
``missing_interest`` (an opening that leaves out the listener's last interest), ``missing_member`` (an
opening that leaves out what ``own_members_said`` asks it to say), ``b_first`` (host B
speaks first), ``same_host`` (a host speaks twice in a row), ``clerk_text`` (a story that reads the raw
action text), ``spoken_unknown_bill`` (a story naming a bill not in its data by a spoken label).

Like the instructions ask, the "model" says bills by the spoken forms in the bill data, starts every
segment with host A, ends it with host B (an even number of lines) and names every interest of the
listener, and says the sentences about their own members of Congress, in an opening.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import Any, Iterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.standins.common import DroppedResponse, dumps, generic_fault, json_response, record
from tests.standins.control import Controller

_LABEL = re.compile(r"\b(?:H\.R\.|S\.|H\.J\.Res\.|S\.J\.Res\.|H\.Con\.Res\.|S\.Con\.Res\.|H\.Res\.|S\.Res\.) \d+")
_FOREIGN = ["H.R. 9876", "S. 4321", "H.R. 5555", "S. 777"]
_SAMPLING = ("temperature", "top_p", "top_k")


class AnthropicControl(Controller):
    """Controller for the Messages API stand-in; ``cache`` holds cached system prompts."""

    def __init__(self, api_key: str):
        super().__init__("anthropic", api_key)
        self.cache: set[str] = set()
        self.min_cache_tokens = 1024
        self.replies: list[dict[str, Any]] = []  # every 200 message sent back, in order
        self.latency = 0.0  # seconds each well-formed request waits before its answer (benchmarks)

    def _reset_extra(self) -> None:
        self.cache.clear()
        self.replies.clear()
        self.min_cache_tokens = 1024
        self.latency = 0.0

    def user_text(self, index: int = -1) -> str:
        """The text of the last user message of recorded request ``index``."""
        return _user_text(self.requests[index].json)

    def system_blocks(self, index: int = -1) -> list[dict[str, Any]]:
        system = self.requests[index].json.get("system") or []
        return [{"type": "text", "text": system}] if isinstance(system, str) else system


def _user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


def _error(status: int, kind: str, message: str, headers: dict[str, str]) -> Response:
    return json_response(status, {"type": "error", "error": {"type": kind, "message": message},
                                  "request_id": headers.get("request-id")}, headers)


def _schema_problem(schema: Any, path: str = "$") -> str | None:
    if isinstance(schema, dict):
        if schema.get("type") == "object" and schema.get("additionalProperties") is not False:
            return f"{path}: objects must set additionalProperties to false"
        for key, value in schema.items():
            problem = _schema_problem(value, f"{path}.{key}")
            if problem:
                return problem
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            problem = _schema_problem(value, f"{path}[{index}]")
            if problem:
                return problem
    return None


def _body_problem(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body must be a JSON object"
    if not isinstance(body.get("model"), str) or not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "model and max_tokens are required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if body["model"].startswith("claude-") and "-5-" in body["model"]:
        if any(name in body for name in _SAMPLING):
            return "sampling parameters are not supported for this model"
        if messages[-1].get("role") == "assistant":
            return "assistant message prefill is not supported for this model"
        if (body.get("tool_choice") or {}).get("type") in ("tool", "any"):
            return "forced tool_choice is not supported for this model"
        if "budget_tokens" in (body.get("thinking") or {}):
            return "thinking budgets are not supported for this model; use adaptive thinking"
    output_format = (body.get("output_config") or {}).get("format")
    if output_format is not None:
        if output_format.get("type") != "json_schema" or not isinstance(output_format.get("schema"), dict):
            return "output_config.format must be {type: json_schema, schema: {...}}"
        return _schema_problem(output_format["schema"])
    return None


# ---- the deterministic "model" ----

def _fit(texts: list[str], lines: int, target: int, cut: bool = True) -> list[str]:
    """Cycle ``texts`` into ``lines`` lines of about ``target`` characters in total (``cut``: long
    lines are shortened): lines padded to 70% of their share, so the whole lands near ``target`` as a
    model following the asked length would."""
    per_line = max(20, target // max(lines, 1))
    filler = ["That is what the record shows.", "We will keep following it.", "It is worth knowing.",
              "The details are in the data."]
    out = []
    for index in range(lines):
        text = texts[index % len(texts)]
        extra = 0
        while len(text) < per_line * 0.7:
            text += " " + filler[(index + extra) % len(filler)]
            extra += 1
        if cut and len(text) > per_line * 2.5:
            text = text[: int(per_line * 2.5)].rsplit(" ", 1)[0].rstrip(",;:") + "."
        out.append(text)
    return out


def _compose(body: dict[str, Any], mode: str | None, options: dict[str, Any] | None = None) -> dict[str, Any]:
    system = body.get("system") or ""
    system_text = system if isinstance(system, str) else "".join(b.get("text", "") for b in system)
    user = _user_text(body)
    kind = (re.search(r"^Segment: (\w+)", user, re.M) or [None, "story"])[1]
    length = re.search(r"between (\d+) and (\d+) lines, about (\d+) characters", user)
    low, high, target = (int(g) for g in length.groups()) if length else (4, 8, 600)
    data = {tag: json.loads(text) for tag, text in re.findall(r"<(\w+_data)>\n(.*?)\n</\1>", user, re.S)}
    hosts = re.search(r"host A is named (.+?) and host B is named (.+?)\.", system_text)
    host_a, host_b = hosts.groups() if hosts else ("Alex", "Jordan")
    first = (data.get("listener_data") or {}).get("first_name", "there")
    out: dict[str, Any] = {"digest": "", "headline": "", "title": ""}
    if kind == "story":
        bill = data.get("bill_data") or {}
        said = bill.get("spoken") or {}
        label, title = bill.get("label", "this bill"), bill.get("title", "an untitled bill")
        spoken_label = said.get("label_spoken", label)
        summary = (bill.get("summary") or "The record has no summary yet.").split(". ")[0].rstrip(".") + "."
        standing = (f"The latest action: {bill.get('latest_action')}." if mode == "clerk_text"
                    else said.get("where_it_stands", "Its status is not in the record."))
        texts = [f"Let's look at {spoken_label}, the {title}.", "Who introduced it?",
                 f"The record says it came from {said.get('sponsor') or bill.get('sponsor') or 'an unnamed sponsor'}.",
                 "And what would it do?", f"According to the summary: {summary}", "How far has it gotten?",
                 standing, f"So {spoken_label} is one to watch."]
        out["digest"] = f"- **{label}: {title}** ({bill.get('status', 'unknown').replace('_', ' ')}). {summary}"
    elif kind == "news":
        items = data.get("news_data") or [{}]
        texts = [f"A report from {i.get('source') or 'one outlet'} says: {i.get('title', 'no title')}." for i in items]
        texts.insert(0, "Here are a few headlines.")
    elif kind == "opening":
        segments = data.get("segments_data") or []
        labels = [m for s in segments for m in _LABEL.findall(s.get("digest") or "")]
        lead = labels[0] if labels else "the news from Congress"
        listener = data.get("listener_data") or {}
        interests = listener.get("interests") or []
        topics = (", ".join(interests[:-1]) if mode == "missing_interest"
                  else listener.get("interests_said") or ", ".join(interests)) or "Congress"
        home = "" if mode == "missing_member" else " ".join(listener.get("own_members_said") or [])
        texts = [f"Good morning, {first}! I'm {host_a}.", f"And I'm {host_b}. We have {len(segments)} segments today.",
                 f"We're following {topics} for you, and we start with {lead}.", f"{home} Let's get into it.".strip()]
        out["headline"], out["title"] = f"Today: {lead} and more", f"Civic Brief for {first}"
    else:
        disclosure = ("Thanks again for spending time with us." if mode == "no_disclosure"
                      else "This brief was written and voiced by AI, so check the record before you rely on it.")
        texts = [f"That's the brief for today, {first}.", disclosure, f"Thanks for listening. I'm {host_b}.",
                 f"And I'm {host_a}. See you next time."]
    count = max(low, min(high, (low + high) // 2))
    if count % 2:  # host A first, host B last
        count = count + 1 if count + 1 <= high else count - 1
    lines = _fit(texts, count, target, cut=kind != "opening")
    if mode == "unknown_bill":
        foreign = (options or {}).get("label") or next(label for label in _FOREIGN if label not in user)
        lines[-1] += f" It is a lot like {foreign}, which is also moving."
    if mode == "spoken_unknown_bill":
        lines[-1] += f" It is a lot like {(options or {}).get('label', 'H.R. ninety-eight seventy-six')}."
    if mode == "short":
        lines = ["Short."]
    speakers = ["AB"[i % 2] for i in range(len(lines))]
    if mode == "b_first":
        speakers = ["BA"[i % 2] for i in range(len(lines))]
    if mode == "same_host":
        speakers[1] = "A"  # A, A, A, B, ...: the first three lines are one turn
        speakers[2] = "A"
    out["lines"] = [{"speaker": speaker, "text": text} for speaker, text in zip(speakers, lines)]
    return out


def _reply(control: AnthropicControl, body: dict[str, Any], mode: str | None, request_id: str,
           options: dict[str, Any] | None = None) -> dict[str, Any]:
    composed = _compose(body, mode, options)
    schema = ((body.get("output_config") or {}).get("format") or {}).get("schema")
    if schema:
        result = {name: composed.get(name, "") for name in schema.get("properties", {})}
        _validate(control, result, schema)
        text = json.dumps(result)
    else:
        text = " ".join(line["text"] for line in composed["lines"])
    thinking = f"Planning the segment from the request data ({len(text)} characters)."
    stop = "end_turn"
    output_tokens = (len(text) + len(thinking)) // 4 + 1
    if mode == "max_tokens":
        text, stop, output_tokens = text[: len(text) // 2], "max_tokens", body["max_tokens"]
    system = body.get("system") or []
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) else system
    system_tokens = sum(len(b.get("text", "")) for b in blocks) // 4
    cacheable = any(b.get("cache_control") for b in blocks) and system_tokens >= control.min_cache_tokens
    read = write = 0
    if cacheable:
        key = hashlib.sha256((body["model"] + json.dumps(blocks, sort_keys=True)).encode()).hexdigest()
        with control._lock:
            if key in control.cache:
                read = system_tokens
            else:
                control.cache.add(key)
                write = system_tokens
    input_tokens = len(_user_text(body)) // 4 + 8 + (0 if cacheable else system_tokens)
    return {
        "id": f"msg_{request_id}", "type": "message", "role": "assistant", "model": body["model"],
        "content": [{"type": "thinking", "thinking": thinking, "signature": "c2lnbmF0dXJl"},
                    {"type": "text", "text": text}],
        "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cache_creation_input_tokens": write, "cache_read_input_tokens": read},
    }


def _validate(control: AnthropicControl, result: Any, schema: dict[str, Any]) -> None:
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - jsonschema comes with the test environment
        return
    try:
        jsonschema.validate(result, schema)
    except jsonschema.ValidationError as err:
        control.problems.append(f"reply does not match the schema: {err.message}")


def _sse(message: dict[str, Any]) -> Iterator[bytes]:
    def event(kind: str, data: dict[str, Any]) -> bytes:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

    start = {**message, "content": [], "stop_reason": None,
             "usage": {**message["usage"], "output_tokens": 1}}
    yield event("message_start", {"message": start})
    yield event("ping", {})
    for index, block in enumerate(message["content"]):
        if block["type"] == "thinking":
            yield event("content_block_start", {"index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}})
            yield event("content_block_delta", {"index": index, "delta": {"type": "thinking_delta", "thinking": block["thinking"]}})
            yield event("content_block_delta", {"index": index, "delta": {"type": "signature_delta", "signature": block["signature"]}})
        else:
            yield event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
            for at in range(0, len(block["text"]), 64):
                yield event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": block["text"][at:at + 64]}})
        yield event("content_block_stop", {"index": index})
    yield event("message_delta", {"delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                                  "usage": {"output_tokens": message["usage"]["output_tokens"]}})
    yield event("message_stop", {})


async def messages(request: Request) -> Response:
    control: AnthropicControl = request.app.state.anthropic
    number, fault, recorded = await record(control, request)
    headers = {"request-id": f"req_standin_{number:05d}"}
    auth = recorded.headers.get("authorization", "")
    key = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else recorded.headers.get("x-api-key")
    if key != control.api_key:
        return _error(401, "authentication_error", "invalid x-api-key", headers)
    if not recorded.headers.get("anthropic-version"):
        return _error(400, "invalid_request_error", "anthropic-version: header is required", headers)
    try:
        body = json.loads(recorded.body)
    except ValueError:
        return _error(400, "invalid_request_error", "body is not JSON", headers)
    problem = _body_problem(body)
    if problem:
        control.problems.append(problem)
        return _error(400, "invalid_request_error", problem, headers)
    if control.latency:
        await asyncio.sleep(control.latency)
    kind = fault.kind if fault else None
    retry = {"retry-after-ms": str((fault.options if fault else {}).get("retry_after_ms", 10))}
    if fault and (response := generic_fault(fault)) is not None:
        return response
    if kind == "rate_limit":
        return _error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.", {**headers, **retry})
    if kind == "overloaded":
        return _error(529, "overloaded_error", "Overloaded", {**headers, **retry})
    if kind == "server_error":
        return _error(500, "api_error", "Internal server error", {**headers, **retry})
    message = _reply(control, body, kind, headers["request-id"], fault.options if fault else None)
    with control._lock:
        control.replies.append(message)
    if body.get("stream"):
        if kind == "drop":
            return DroppedResponse(b"".join(_sse(message)), media_type="text/event-stream", headers=headers, chunked=True)
        return StreamingResponse(_sse(message), media_type="text/event-stream", headers=headers)
    if kind == "drop":
        return DroppedResponse(dumps(message), headers=headers)
    return Response(dumps(message), media_type="application/json", headers=headers)
