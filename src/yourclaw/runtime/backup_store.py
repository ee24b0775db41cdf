"""The bucket the volumes' backups live in (S3-compatible, through boto3): one object per backup under the
user's prefix, so that everything of one user can be found and removed without the database (an account's
rows are gone by the time its deletion reaches the fleet). Blocking: the reconciler calls it in threads."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import boto3
from botocore.config import Config

from yourclaw.kit.settings import Settings
from yourclaw.runtime.volume_tar import CHUNK, ChunkReader, Counted

PREFIX = "volumes"


def user_prefix(user_id: uuid.UUID) -> str:
    return f"{PREFIX}/{user_id}/"


def object_key(user_id: uuid.UUID, backup_id: uuid.UUID, taken_at: datetime) -> str:
    return f"{user_prefix(user_id)}{taken_at:%Y%m%dT%H%M%SZ}-{backup_id}.tar"


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int


class BackupStore:
    def __init__(self, settings: Settings) -> None:
        if not settings.backup_bucket:
            raise ValueError("BACKUP_BUCKET is not set")
        self.bucket = settings.backup_bucket
        self._s3 = boto3.client(
            "s3",
            endpoint_url=settings.backup_endpoint_url,
            region_name=settings.backup_region,
            aws_access_key_id=settings.backup_access_key_id,
            aws_secret_access_key=settings.backup_secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}),
        )

    def put(self, key: str, chunks: Iterable[bytes]) -> int:
        """Streams the chunks into one object (multipart past boto3's threshold); returns its size."""
        counted = Counted(chunks)
        # Buffered: a read returns all it asks for (boto3 takes a short read for the end of a multipart part).
        source = io.BufferedReader(ChunkReader(counted), CHUNK)
        self._s3.upload_fileobj(source, self.bucket, key, ExtraArgs={"ContentType": "application/x-tar"})
        return counted.bytes

    def get(self, key: str) -> Iterator[bytes]:
        body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def list_user(self, user_id: uuid.UUID) -> list[StoredObject]:
        found = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=user_prefix(user_id)):
            found += [StoredObject(o["Key"], o["Size"]) for o in page.get("Contents") or ()]
        return found

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the API's most per call
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            if batch:
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def delete_user(self, user_id: uuid.UUID) -> int:
        """Every backup of the user; how many there were."""
        keys = [o.key for o in self.list_user(user_id)]
        self.delete(keys)
        return len(keys)
