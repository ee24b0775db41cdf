"""The one place every JSON body of a Litestar route is decoded (the app's request class, `server.app`),
so that what any route takes is refused here when it cannot be taken:

- a body that is not JSON, not UTF-8, or nested deeper than the decoder goes (msgspec raises
  `RecursionError`, not its own error, for that) is a 400 `MALFORMED_JSON`, never a 500;
- a string holding NUL (U+0000) is a 422 `NUL_CHARACTER`: PostgreSQL stores no NUL in text or JSONB, so
  such a value would otherwise fail at the database, after the route had done its work.

Lengths are the shapes' business (`msgspec.Meta(max_length=...)` or the route's own check), since each
column has its own.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException

from yourclaw.kit.errors import MalformedJson, NulCharacter

# How JSON spells NUL inside a string: a raw NUL byte is not valid JSON, so a body without this sequence
# holds none and is not walked.
_ESCAPED_NUL = b"\\u0000"


class JsonRequest(Request):
    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise MalformedJson("The JSON body is nested too deeply") from None
        except UnicodeDecodeError:
            raise MalformedJson("The body is not valid UTF-8") from None
        except SerializationException as exc:
            raise MalformedJson(f"The body is not valid JSON ({exc})") from None
        if _ESCAPED_NUL in await self.body():
            refuse_nul(value)
        return value


def refuse_nul(value: Any) -> None:
    """Raises NulCharacter naming where the first NUL is (keys included). Iterative: the value may be
    nested as deep as the decoder allowed, which is deeper than this stack would."""
    pending: list[tuple[str, Any]] = [("body", value)]
    while pending:
        where, item = pending.pop()
        where = where[:100]  # the caller's own keys, but a key may be long
        if isinstance(item, str):
            if "\x00" in item:
                raise NulCharacter(f"Text may not contain NUL (\\u0000) characters ({where})")
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and "\x00" in key:
                    raise NulCharacter(f"Text may not contain NUL (\\u0000) characters (a key in {where})")
                pending.append((f"{where}.{key}", child))
        elif isinstance(item, list):
            pending.extend((f"{where}[{index}]", child) for index, child in enumerate(item))
