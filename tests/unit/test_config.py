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
