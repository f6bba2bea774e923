#!/usr/bin/env python3
"""boto3 round trip against an Anvil S3 endpoint; run by TestBoto3.

Puts, gets, multipart uploads (managed and by hand), listings and deletes,
twice: once as boto3 behaves over plain HTTP (flexible checksums in headers)
and once as it behaves over HTTPS, where it sends every streaming upload as
aws-chunked with an unsigned trailing checksum (STREAMING-UNSIGNED-PAYLOAD-
TRAILER). The endpoint is plain HTTP, so the second pass moves the checksum
to the trailer the way botocore itself decides it for TLS.

Environment: ANVIL_ENDPOINT, ANVIL_ACCESS_KEY, ANVIL_SECRET_KEY,
ANVIL_REGION, ANVIL_WORK_DIR. Exits non-zero on the first failed check.
"""

import base64
import hashlib
import os
import random
import sys
import uuid
import zlib

import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

MIB = 1 << 20


def step(msg):
    print("ok   " + msg, flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def data(seed, n):
    return random.Random(seed).randbytes(n)


def crc32_b64(b):
    return base64.b64encode(zlib.crc32(b).to_bytes(4, "big")).decode()


def sha256_b64(b):
    return base64.b64encode(hashlib.sha256(b).digest()).decode()


def multipart_etag(parts):
    joined = b"".join(hashlib.md5(p).digest() for p in parts)
    return '"%s-%d"' % (hashlib.md5(joined).hexdigest(), len(parts))


def force_trailer(params, **kwargs):
    """Send the flexible checksum as a trailer, as botocore does over TLS."""
    algo = params.get("context", {}).get("checksum", {}).get("request_algorithm")
    if isinstance(algo, dict) and algo.get("in") == "header":
        algo["in"] = "trailer"


def client(trailer):
    c = boto3.client(
        "s3",
        endpoint_url=os.environ["ANVIL_ENDPOINT"],
        aws_access_key_id=os.environ["ANVIL_ACCESS_KEY"],
        aws_secret_access_key=os.environ["ANVIL_SECRET_KEY"],
        region_name=os.environ["ANVIL_REGION"],
        config=Config(
            s3={"addressing_style": "path"},
            # One attempt and a short read timeout: a retry would hide a
            # broken response behind a stall.
            retries={"max_attempts": 1, "mode": "standard"},
            read_timeout=20,
            request_checksum_calculation="when_supported",
            response_checksum_validation="when_supported",
        ),
    )
    if trailer:
        for op in ("PutObject", "UploadPart"):
            c.meta.events.register("before-call.s3." + op, force_trailer)
    return c


def get_bytes(s3, bucket, key, **kw):
    return s3.get_object(Bucket=bucket, Key=key, **kw)["Body"].read()


def run(s3, mode, work):
    bucket = "boto3-%s-%s" % (mode, uuid.uuid4().hex[:12])
    s3.create_bucket(Bucket=bucket)
    step("%s: create bucket %s" % (mode, bucket))

    # Simple puts: the default CRC32, and explicit algorithms.
    body = data(1, 100_000)
    out = s3.put_object(Bucket=bucket, Key="small", Body=body)
    check(out["ETag"] == '"%s"' % hashlib.md5(body).hexdigest(), "put ETag %s" % out["ETag"])
    check(out.get("ChecksumCRC32") == crc32_b64(body), "put returned CRC32 %s" % out.get("ChecksumCRC32"))
    check(get_bytes(s3, bucket, "small") == body, "get small: bytes differ")
    head = s3.head_object(Bucket=bucket, Key="small", ChecksumMode="ENABLED")
    check(head["ContentLength"] == len(body), "head length %d" % head["ContentLength"])
    check(head.get("ChecksumCRC32") == crc32_b64(body), "head CRC32 %s, want %s" % (head.get("ChecksumCRC32"), crc32_b64(body)))
    step("%s: put/get/head with CRC32 (%d bytes)" % (mode, len(body)))

    out = s3.put_object(Bucket=bucket, Key="sha256", Body=body, ChecksumAlgorithm="SHA256")
    check(out.get("ChecksumSHA256") == sha256_b64(body), "put returned SHA256 %s" % out.get("ChecksumSHA256"))
    got = s3.get_object(Bucket=bucket, Key="sha256", ChecksumMode="ENABLED")
    check(got["Body"].read() == body, "get sha256: bytes differ")
    check(got.get("ChecksumSHA256") == sha256_b64(body), "get SHA256 %s" % got.get("ChecksumSHA256"))
    step("%s: put/get with SHA256" % mode)

    out = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    check(get_bytes(s3, bucket, "empty") == b"", "get empty: not empty")
    step("%s: empty object" % mode)

    # A wrong checksum is refused and stores nothing.
    try:
        s3.put_object(Bucket=bucket, Key="bad", Body=body, ChecksumCRC32=crc32_b64(b"other"))
        raise AssertionError("put with a wrong CRC32 succeeded")
    except botocore.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] == "BadDigest", "wrong CRC32: %s" % e.response["Error"])
    try:
        s3.head_object(Bucket=bucket, Key="bad")
        raise AssertionError("a refused put left an object")
    except botocore.exceptions.ClientError as e:
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, "head bad: %s" % e.response["Error"])
    step("%s: wrong checksum refused with BadDigest, nothing stored" % mode)

    # upload_file sends Expect: 100-continue; an empty file first, then a
    # non-empty one on the same pooled connection (botocore#3755: a server
    # that answers an empty body's Expect without 100 Continue leaves the
    # connection unusable for botocore).
    for name, size in (("expect-empty", 0), ("expect-after-empty", 300_000)):
        path = os.path.join(work, "%s-%s" % (mode, name))
        with open(path, "wb") as f:
            f.write(data(9, size))
        s3.upload_file(path, bucket, name, Config=TransferConfig(max_concurrency=1))
        check(get_bytes(s3, bucket, name) == data(9, size), "%s: bytes differ" % name)
    step("%s: upload_file of an empty file, then another (Expect: 100-continue)" % mode)

    # Managed multipart upload (upload_file) and download.
    big = data(2, 12 * MIB + 7)
    src = os.path.join(work, mode + "-big.bin")
    with open(src, "wb") as f:
        f.write(big)
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    s3.upload_file(src, bucket, "big", Config=cfg)
    head = s3.head_object(Bucket=bucket, Key="big")
    chunks = [big[i : i + 5 * MIB] for i in range(0, len(big), 5 * MIB)]
    check(head["ETag"] == multipart_etag(chunks), "multipart ETag %s, want %s" % (head["ETag"], multipart_etag(chunks)))
    dst = os.path.join(work, mode + "-big.back")
    s3.download_file(bucket, "big", dst, Config=cfg)
    with open(dst, "rb") as f:
        check(f.read() == big, "download_file: bytes differ")
    rng = get_bytes(s3, bucket, "big", Range="bytes=%d-%d" % (5 * MIB - 10, 5 * MIB + 9))
    check(rng == big[5 * MIB - 10 : 5 * MIB + 10], "ranged get across a part boundary: bytes differ")
    step("%s: upload_file/download_file multipart (%d parts)" % (mode, len(chunks)))

    # Multipart by hand, with SHA256 part checksums.
    parts = [data(3, 5 * MIB), data(4, 1234)]
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="manual", ChecksumAlgorithm="SHA256")
    uid = mpu["UploadId"]
    done = []
    for n, p in enumerate(parts, 1):
        out = s3.upload_part(Bucket=bucket, Key="manual", UploadId=uid, PartNumber=n, Body=p, ChecksumAlgorithm="SHA256")
        check(out.get("ChecksumSHA256") == sha256_b64(p), "part %d SHA256 %s" % (n, out.get("ChecksumSHA256")))
        done.append({"PartNumber": n, "ETag": out["ETag"], "ChecksumSHA256": out["ChecksumSHA256"]})
    listed = s3.list_parts(Bucket=bucket, Key="manual", UploadId=uid)["Parts"]
    check([p["PartNumber"] for p in listed] == [1, 2], "list_parts: %s" % listed)
    check([p["Size"] for p in listed] == [len(p) for p in parts], "list_parts sizes: %s" % listed)
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    check(any(u["UploadId"] == uid for u in uploads), "list_multipart_uploads misses %s" % uid)
    out = s3.complete_multipart_upload(Bucket=bucket, Key="manual", UploadId=uid, MultipartUpload={"Parts": done})
    check(out["ETag"] == multipart_etag(parts), "complete ETag %s" % out["ETag"])
    composite = base64.b64encode(
        hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    ).decode() + "-2"
    check(out.get("ChecksumSHA256") == composite, "complete SHA256 %s, want %s" % (out.get("ChecksumSHA256"), composite))
    check(get_bytes(s3, bucket, "manual") == b"".join(parts), "get manual: bytes differ")
    check(get_bytes(s3, bucket, "manual", PartNumber=2) == parts[1], "get partNumber=2: bytes differ")
    step("%s: create/upload_part/list_parts/complete with SHA256, composite checksum" % mode)

    # An aborted upload leaves nothing behind.
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="aborted")
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=mpu["UploadId"], PartNumber=1, Body=b"x" * 100)
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=mpu["UploadId"])
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    check(all(u["UploadId"] != mpu["UploadId"] for u in uploads), "aborted upload still listed")
    step("%s: abort_multipart_upload" % mode)

    # Listing with pagination and a delimiter.
    for i in range(7):
        s3.put_object(Bucket=bucket, Key="list/k%02d" % i, Body=b"%d" % i)
    s3.put_object(Bucket=bucket, Key="list/sub/x", Body=b"x")
    keys, prefixes = [], []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="list/", Delimiter="/", PaginationConfig={"PageSize": 3}):
        keys += [o["Key"] for o in page.get("Contents", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    check(keys == ["list/k%02d" % i for i in range(7)], "list_objects_v2 keys: %s" % keys)
    check(prefixes == ["list/sub/"], "list_objects_v2 prefixes: %s" % prefixes)
    step("%s: list_objects_v2 paginated with a delimiter" % mode)

    # Batch delete, then the bucket.
    every = [o["Key"] for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in p.get("Contents", [])]
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in every], "Quiet": True})
    check(not out.get("Errors"), "delete_objects errors: %s" % out.get("Errors"))
    left = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    check(left == 0, "%d objects left after delete_objects" % left)
    s3.delete_bucket(Bucket=bucket)
    step("%s: delete_objects of %d keys, delete_bucket" % (mode, len(every)))


def main():
    print("boto3 %s, botocore %s" % (boto3.__version__, botocore.__version__), flush=True)
    work = os.environ["ANVIL_WORK_DIR"]
    failed = False
    for mode, trailer in (("header", False), ("trailer", True)):
        try:
            run(client(trailer), mode, work)
        except Exception as e:  # report both passes, then fail
            failed = True
            print("FAIL %s: %s: %s" % (mode, type(e).__name__, e), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
