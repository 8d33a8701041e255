import pytest
from sqlalchemy import text

from abkit.events import EventStore


@pytest.mark.postgres
def test_store_on_real_postgres(postgres_url):
    store = EventStore.open(postgres_url)
    case = {"case_id": "c1", "handle_time_s": 300.0, "closed_at": "2026-01-01T10:00:00Z"}
    assert store.write("case", [case]).accepted == 1
    assert store.write("case", [case]).duplicates == 1
    with store.engine.connect() as conn:
        assert conn.execute(text("select count(*) from cases")).scalar() == 1
