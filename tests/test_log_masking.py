"""Issue 8: the server's log masks URL paths, queries and passwords (civic_briefs/log_masking.py,
installed by deployments/logging.yml). The real server is in tests/e2e/test_alerts_and_zombie_runs.py."""

from __future__ import annotations

import copy
import io
import logging
from pathlib import Path

import httpx
import pytest
import yaml

from civic_briefs.log_masking import MaskUrlsFilter, UrlMasker, mask_every_record

REPO = Path(__file__).resolve().parents[1]
TOKEN = "T0KEN5ecret"
HOOK = f"http://127.0.0.1:5555/hooks/{TOKEN}?sig={TOKEN}"


def _httpx_error() -> httpx.HTTPStatusError:
    response = httpx.Response(500, request=httpx.Request("POST", HOOK))
    with pytest.raises(httpx.HTTPStatusError) as caught:
        response.raise_for_status()
    return caught.value


def test_logging_yml_is_prefects_default_with_the_mask_on_every_handler():
    import prefect.logging.configuration as configuration

    ours = yaml.safe_load((REPO / "deployments" / "logging.yml").read_text())
    default = yaml.safe_load(configuration.DEFAULT_LOGGING_SETTINGS_PATH.read_text())
    assert ours["filters"] == {"mask_urls": {"()": "civic_briefs.log_masking.MaskUrlsFilter", "every_record": True}}
    assert {name: h["filters"] for name, h in ours["handlers"].items()} == {
        name: ["mask_urls"] for name in default["handlers"]}
    unfiltered = copy.deepcopy(ours)
    del unfiltered["filters"]
    for handler in unfiltered["handlers"].values():
        del handler["filters"]
    assert unfiltered == default  # a Prefect upgrade that changes its default shows here


@pytest.mark.parametrize(("text", "shown"), [
    (str(_httpx_error()), "Server error '500 Internal Server Error' for url 'http://127.0.0.1:5555/***'\n"
                          "For more information check: https://developer.mozilla.org/***"),
    ("postgresql+asyncpg://briefs:pa55@db:5432/prefect", "postgresql+asyncpg://briefs:***@db:5432/***"),
    ("see http://127.0.0.1:4200/api/health and http://example.org/", "see http://127.0.0.1:4200/api/health and "
                                                                     "http://example.org/"),
    (f"Request('POST', /hooks/{TOKEN}?sig={TOKEN})", "Request('POST', /***)"),  # the secret, without its host
    ("127.0.0.1:40312 - \"GET /api/health HTTP/1.1\" 200", "127.0.0.1:40312 - \"GET /api/health HTTP/1.1\" 200"),
])
def test_masker_hides_paths_queries_and_passwords_but_not_the_servers_own_links(text, shown):
    masker = UrlMasker.from_environment({"PREFECT_API_URL": "http://127.0.0.1:4200/api",
                                         "BRIEFS_ALERT_WEBHOOK_URL": HOOK})
    assert masker(text) == shown


def _logger_writing_to(stream: io.StringIO, *filters: logging.Filter) -> logging.Logger:
    logger = logging.getLogger(f"test_log_masking.{id(stream)}")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    for f in filters:
        handler.addFilter(f)
    logger.addHandler(handler)
    return logger


def test_filter_masks_the_message_and_traceback_and_keeps_the_failure():
    out = io.StringIO()
    logger = _logger_writing_to(out, MaskUrlsFilter(masker=UrlMasker()))
    try:
        raise _httpx_error()
    except httpx.HTTPStatusError:
        logger.exception("Failed in consume_loop")
    logger.warning("posting to %s", HOOK)
    text = out.getvalue()
    assert TOKEN not in text
    assert text.startswith("ERROR Failed in consume_loop\nTraceback (most recent call last):\n")
    assert "httpx.HTTPStatusError: Server error '500 Internal Server Error' for url 'http://127.0.0.1:5555/***'" in text
    assert text.endswith("WARNING posting to http://127.0.0.1:5555/***\n")


def test_a_record_with_nothing_to_mask_keeps_its_args():
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s"',
                               ("127.0.0.1:1", "GET", "/api/health"), None)
    assert MaskUrlsFilter(masker=UrlMasker()).filter(record) is True
    assert record.args == ("127.0.0.1:1", "GET", "/api/health")  # uvicorn's access formatter reads them


def test_every_record_is_masked_also_for_a_handler_without_the_filter():
    """uvicorn.run sets its own handlers after Prefect read logging.yml."""
    before = logging.getLogRecordFactory()
    try:
        mask_every_record(MaskUrlsFilter(masker=UrlMasker()))
        installed = logging.getLogRecordFactory()
        mask_every_record(MaskUrlsFilter(masker=UrlMasker()))
        assert installed is not before and logging.getLogRecordFactory() is installed  # once only
        out = io.StringIO()
        _logger_writing_to(out).error("Exception in ASGI application: %s", _httpx_error())
        assert out.getvalue() == ("ERROR Exception in ASGI application: Server error '500 Internal Server Error' "
                                  "for url 'http://127.0.0.1:5555/***'\n"
                                  "For more information check: https://developer.mozilla.org/***\n")
    finally:
        logging.setLogRecordFactory(before)


def test_a_badly_formatted_record_is_masked_not_raised():
    out = io.StringIO()
    _logger_writing_to(out, MaskUrlsFilter(masker=UrlMasker())).error("posting %s to %s", HOOK)
    assert out.getvalue() == "ERROR posting %s to %s ('http://127.0.0.1:5555/***',)\n"
