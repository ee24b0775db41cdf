"""The export and the deletion know every table that holds a user's rows: a new table with a `user_id` must be
named in `userdata.repository.OWNED` (exported or not) and must go with the user."""

from __future__ import annotations

import pytest

from yourclaw.db.base import Base
from yourclaw.userdata.repository import OWNED

pytestmark = pytest.mark.unit


def test_every_table_naming_a_user_is_known_and_cascades():
    naming = {
        table.name
        for table in Base.metadata.tables.values()
        if "user_id" in table.columns and table.name != "account_deletions"
    }
    assert naming | {"users"} == {model.__tablename__ for model in OWNED}
    for name in naming:
        (key,) = [fk for fk in Base.metadata.tables[name].columns["user_id"].foreign_keys]
        assert key.ondelete == "CASCADE", f"{name}.user_id must go with the user"
