"""Login for a dashboard bound beyond loopback, checked through Flask's test client."""

from __future__ import annotations

import base64

import pytest

from dashboards import create_app
from dashboards.auth import Credentials, is_loopback, load_credentials


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_every_route_needs_the_login(tmp_path):
    client = create_app(str(tmp_path / "none.sqlite"), credentials=Credentials("ana", "s3cret")).server.test_client()
    for path in ("/", "/_dash-layout", "/download/overview.csv?snapshot=1"):
        response = client.get(path)
        assert response.status_code == 401 and "Basic" in response.headers["WWW-Authenticate"]
    assert client.get("/", headers=_basic("ana", "wrong")).status_code == 401
    assert client.get("/", headers={"Authorization": "Basic !!!"}).status_code == 401
    assert client.get("/", headers=_basic("ana", "s3cret")).status_code == 200


def test_credentials_from_file_and_environment(tmp_path, monkeypatch):
    secret = tmp_path / "password"
    secret.write_text("from-file\nignored\n")
    monkeypatch.setenv("ABKIT_DASHBOARD_USER", "lead")
    assert load_credentials(secret) == Credentials("lead", "from-file")
    monkeypatch.setenv("ABKIT_DASHBOARD_PASSWORD", "from-env")
    assert load_credentials().password == "from-env"
    assert "from-env" not in repr(load_credentials())


def test_missing_or_empty_password_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv("ABKIT_DASHBOARD_PASSWORD", raising=False)
    with pytest.raises(ValueError, match="ABKIT_DASHBOARD_PASSWORD"):
        load_credentials()
    empty = tmp_path / "empty"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty password"):
        load_credentials(empty)
    with pytest.raises(ValueError, match="does not exist"):
        load_credentials(tmp_path / "absent")
