"""A failed statement leaves no personal data in the logs: the engine hides its parameters, and the
log line of a database error keeps its traceback and SQLSTATE but not the driver's message, which can quote
the value or the whole row it refused (`Failing row contains (...)`)."""

from __future__ import annotations

import json
import uuid

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from yourclaw.db.engine import make_engine
from yourclaw.kit.logs import configure_logging

pytestmark = pytest.mark.db

PHONE = "+14155550177"
BODY = "meet me at 9, the code is 4411"


async def _logged_failure(database_url: str, statement: str, params: dict, capsys) -> tuple[DBAPIError, dict]:
    engine = make_engine(database_url, pool_size=1)
    configure_logging("INFO")
    try:
        async with engine.begin() as conn:
            await conn.execute(text(statement), params)
    except DBAPIError as exc:
        structlog.get_logger("test").exception("unhandled_error", error=type(exc).__name__)
        failure = exc
    else:  # pragma: no cover
        raise AssertionError("the statement should have failed")
    finally:
        await engine.dispose()
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    return failure, line


async def test_a_value_the_database_refuses_is_not_in_the_error_nor_the_log(database_url, db, capsys):
    failure, line = await _logged_failure(
        database_url, "SELECT CAST(:phone AS integer), :body", {"phone": PHONE, "body": BODY}, capsys
    )
    assert "[parameters" not in str(failure)
    assert BODY not in str(failure)
    assert PHONE not in json.dumps(line) and BODY not in json.dumps(line)
    assert "Traceback" in line["exception"] and "withheld" in line["exception"]


async def test_a_refused_row_quoted_in_detail_is_not_in_the_log(database_url, db, capsys):
    user_id = uuid.uuid4()
    await db.execute(text("INSERT INTO users (id, email) VALUES (:id, 'x@example.com')"), {"id": user_id})
    await db.commit()
    failure, line = await _logged_failure(
        database_url,
        "INSERT INTO user_phones (id, user_id, phone_e164, profile_name, verified_at)"
        " VALUES (:id, :user_id, :phone, :body, now())",
        {"id": uuid.uuid4(), "user_id": user_id, "phone": "x" + PHONE, "body": BODY},
        capsys,
    )
    # The driver's error quotes the row; the log line does not.
    assert PHONE in failure.orig.__cause__.detail and BODY in failure.orig.__cause__.detail
    assert PHONE not in json.dumps(line) and BODY not in json.dumps(line)
    assert "23514" in line["exception"]  # check_violation: what failed stays readable
