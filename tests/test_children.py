import logging

from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.children import EMBEDDED_API_MAX_CONCURRENCY, _effective_concurrency


def test_embedded_api_caps_concurrency_and_says_so(caplog):
    log = logging.LoggerAdapter(logging.getLogger("test"), {})
    with temporary_settings(updates={PREFECT_API_URL: None}):
        assert _effective_concurrency(32, log) == EMBEDDED_API_MAX_CONCURRENCY == 8
        assert _effective_concurrency(3, log) == 3
    assert "max_concurrent_briefs=32 is more than the embedded API holds; using 8" in caplog.text
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        assert _effective_concurrency(32, log) == 32
