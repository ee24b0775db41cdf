"""Reads the multipart form an OpenAI-compatible transcription client sends (`file`, `model`, `language`,
`prompt`, `response_format`), from a body already read and bounded."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    file: bytes | None = None
    filename: str = "audio"
    file_type: str = "application/octet-stream"


def parse_form(content_type: str, body: bytes) -> Form | None:
    """None when this is not a multipart form."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        return None
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        return None
    form = Form()
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            form.file = payload
            form.filename = part.get_filename() or "audio"
            form.file_type = part.get_content_type()
        elif len(payload) <= 4096:
            form.fields[str(name)] = payload.decode("utf-8", errors="replace")
    return form
