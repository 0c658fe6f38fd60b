import os

import pytest
from pydantic import ValidationError

from service.config import Settings


def test_empty_api_key_means_no_key(monkeypatch):
    monkeypatch.setenv("EMOTION_API_KEY", "")
    assert Settings().api_key is None
    monkeypatch.setenv("EMOTION_API_KEY", "k")
    assert Settings().api_key.get_secret_value() == "k"


def test_redis_url_accepts_the_plain_name(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://example:6379/2")
    assert Settings().redis_url == "redis://example:6379/2"


def test_bad_polarity_and_unknown_fields_are_refused():
    with pytest.raises(ValidationError, match="polarities must be one of"):
        Settings(polarity_map={"happy": "great"})
    with pytest.raises(ValidationError):
        Settings(no_such_setting=1)


def test_settings_pass_to_a_child_process_through_its_environment(monkeypatch, tmp_path):
    settings = Settings(
        redis_url="redis://example:6379/3",
        api_key="k",
        temporal_model=None,
        device="cpu",
        identity=False,
        allow_local_files=True,
        media_dirs=[tmp_path],
        detect_thresholds=(0.5, 0.6, 0.7),
        polarity_map={"happy": "positive", "sad": "negative"},
        target_latency_ms=1e9,
    )
    env = settings.as_env()
    assert "EMOTION_WORKER_ID" not in env and env["EMOTION_TEMPORAL_MODEL"] == ""
    for name in [n for n in os.environ if n.startswith("EMOTION_") or n == "REDIS_URL"]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings() == settings
