package store

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// partSegment returns the segment of a part of size bytes whose content is
// named by dataID (its ETag is the MD5 of dataID, which is all a test
// needs).
func partSegment(dataID string, size int64) Segment {
	seg := segment(dataID, size)
	seg.ETag = md5hex([]byte(dataID))
	return seg
}

func wantETag(dataIDs ...string) string {
	h := md5.New()
	for _, id := range dataIDs {
		sum := md5.Sum([]byte(id))
		h.Write(sum[:])
	}
	return fmt.Sprintf("%s-%d", hex.EncodeToString(h.Sum(nil)), len(dataIDs))
}

func completed(dataIDs map[int]string, numbers ...int) []CompletedPart {
	var out []CompletedPart
	for _, n := range numbers {
		out = append(out, CompletedPart{PartNumber: n, ETag: md5hex([]byte(dataIDs[n]))})
	}
	return out
}

func mustCreateUpload(t *testing.T, s *Store, bucket, key string) Upload {
	t.Helper()
	u, err := s.CreateMultipartUpload(testCtx(t), Upload{Bucket: bucket, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustPutPart(t *testing.T, s *Store, u Upload, n int, seg Segment) Part {
	t.Helper()
	p, err := s.PutPart(testCtx(t), u.Bucket, u.Key, u.UploadID, n, seg)
	if err != nil {
		t.Fatalf("put part %d: %v", n, err)
	}
	return p
}

const mib = 1 << 20

func TestMultipartHappyPath(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	b, err := s.CreateBucket(ctx, "mpu", "us-east-1", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	old := mustCommit(t, s, object("mpu", "big.bin", "old", 1))

	u, err := s.CreateMultipartUpload(ctx, Upload{
		Bucket: "mpu", Key: "big.bin",
		Template: Version{
			ContentType: "application/octet-stream", CacheControl: "no-cache",
			UserMetadata: map[string]string{"owner": "ann"}, Tags: map[string]string{"t": "1"},
			Size: 99, ETag: "ignored", // not part of a template
		},
		ChecksumAlgorithm: ChecksumCRC32,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !isUUID(u.UploadID) || u.Initiated.IsZero() || u.ChecksumType != ChecksumComposite || u.Template.ContentType != "application/octet-stream" {
		t.Fatalf("created %+v", u)
	}
	got, err := s.GetMultipartUpload(ctx, "mpu", "big.bin", u.UploadID)
	if err != nil || got.UploadID != u.UploadID || got.Template.UserMetadata["owner"] != "ann" || got.Template.Size != 0 || !got.Initiated.Equal(u.Initiated) {
		t.Fatalf("get upload %+v %v", got, err)
	}

	ids := map[int]string{1: "p1", 2: "p2-old", 3: "p3", 4: "p4-unlisted"}
	sizes := map[int]int64{1: 5 * mib, 2: 5 * mib, 3: 7, 4: 5 * mib}
	crcs := map[int]string{}
	for _, n := range []int{3, 1, 2, 4} { // parts may arrive in any order
		seg := partSegment(ids[n], sizes[n])
		crcs[n] = crc32b64([]byte(ids[n]))
		seg.Checksums = map[string]string{ChecksumCRC32: crcs[n]}
		p := mustPutPart(t, s, u, n, seg)
		if p.PartNumber != n || p.LastModified.IsZero() || p.Segment.PartNumber != n {
			t.Fatalf("part %+v", p)
		}
	}
	// Replacing part 2 queues the old one.
	ids[2] = "p2"
	seg2 := partSegment(ids[2], sizes[2])
	crcs[2] = crc32b64([]byte(ids[2]))
	seg2.Checksums = map[string]string{ChecksumCRC32: crcs[2]}
	mustPutPart(t, s, u, 2, seg2)
	q := outbox(t, e, "us-east-1")
	if len(q) != 1 || q[0].Type != TaskDeleteParts || q[0].Payload.UploadID != u.UploadID || q[0].Payload.VersionID != "" ||
		!slices.Equal(dataIDs(q), []string{"p2-old"}) || q[0].Payload.BucketID != b.ID || q[0].Payload.Key != "big.bin" {
		t.Fatalf("replaced part queued %+v", q)
	}

	t.Run("list parts", func(t *testing.T) {
		var numbers []int
		marker := 0
		for pages := 0; ; pages++ {
			res, err := s.ListParts(ctx, "mpu", "big.bin", u.UploadID, marker, 3)
			if err != nil {
				t.Fatal(err)
			}
			if res.Upload.UploadID != u.UploadID {
				t.Fatalf("listed upload %+v", res.Upload)
			}
			for _, p := range res.Parts {
				numbers = append(numbers, p.PartNumber)
				if p.Segment.ETag != md5hex([]byte(ids[p.PartNumber])) || p.Segment.Size != sizes[p.PartNumber] || p.Segment.Checksums[ChecksumCRC32] != crcs[p.PartNumber] {
					t.Fatalf("listed part %+v", p)
				}
			}
			if !res.Truncated {
				break
			}
			if pages > 3 || res.NextPartNumberMarker != numbers[len(numbers)-1] {
				t.Fatalf("page %d: %+v", pages, res)
			}
			marker = res.NextPartNumberMarker
		}
		if !slices.Equal(numbers, []int{1, 2, 3, 4}) {
			t.Fatalf("listed parts %v", numbers)
		}
	})

	parts := completed(ids, 1, 2, 3)
	parts[1].ETag = `"` + strings.ToUpper(parts[1].ETag) + `"` // clients quote; case does not matter
	parts[2].Checksums = map[string]string{ChecksumCRC32: crcs[3]}
	v, err := s.CompleteMultipartUpload(ctx, "mpu", "big.bin", u.UploadID, parts, CompleteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rawCRCs []byte
	for _, n := range []int{1, 2, 3} {
		rawCRCs = binary.BigEndian.AppendUint32(rawCRCs, crc32ChecksumOf(ids[n]))
	}
	wantCRC := crc32b64(rawCRCs) + "-3"
	if v.ETag != wantETag("p1", "p2", "p3") || v.Size != 10*mib+7 || v.PartsCount != 3 || !v.IsLatest ||
		v.ContentType != "application/octet-stream" || v.CacheControl != "no-cache" || v.UserMetadata["owner"] != "ann" || v.Tags["t"] != "1" ||
		v.Checksums[ChecksumCRC32] != wantCRC || v.ChecksumType != ChecksumComposite {
		t.Fatalf("completed %+v", v)
	}
	fetched := mustGet(t, s, "mpu", "big.bin", "")
	if fetched.VersionID != v.VersionID || len(fetched.Segments) != 3 || fetched.PartsCount != 3 {
		t.Fatalf("current after complete %+v", fetched)
	}
	for i, seg := range fetched.Segments {
		n := i + 1
		if seg.PartNumber != n || seg.DataID != ids[n] || seg.ETag != md5hex([]byte(ids[n])) || seg.Checksums[ChecksumCRC32] != crcs[n] {
			t.Fatalf("segment %d: %+v", i, seg)
		}
	}
	// The replaced version, the replaced part and the unlisted part are
	// garbage; nothing else is.
	q = outbox(t, e, "us-east-1")
	if got := dataIDs(q); !slices.Equal(got, []string{"old", "p2-old", "p4-unlisted"}) {
		t.Fatalf("queued %v", got)
	}
	for _, r := range q {
		if r.Payload.VersionID == old.VersionID && r.Type != TaskDeleteObject {
			t.Fatalf("replaced version queued as %s", r.Type)
		}
	}
	if n := count(t, e.regional["us-east-1"], "SELECT count(*) FROM multipart_parts"); n != 0 {
		t.Fatalf("%d part rows left", n)
	}

	t.Run("after completion", func(t *testing.T) {
		if _, err := s.GetMultipartUpload(ctx, "mpu", "big.bin", u.UploadID); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("get completed upload: %v", err)
		}
		if _, err := s.ListParts(ctx, "mpu", "big.bin", u.UploadID, 0, 0); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("list parts of completed upload: %v", err)
		}
		if _, err := s.PutPart(ctx, "mpu", "big.bin", u.UploadID, 5, partSegment("late", 1)); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("put part into completed upload: %v", err)
		}
		again, err := s.CompleteMultipartUpload(ctx, "mpu", "big.bin", u.UploadID, completed(ids, 1, 2, 3), CompleteOptions{})
		if err != nil || again.VersionID != v.VersionID || again.ETag != v.ETag {
			t.Fatalf("repeated complete: %+v %v", again, err)
		}
		if _, err := s.CompleteMultipartUpload(ctx, "mpu", "big.bin", u.UploadID, completed(ids, 1, 2), CompleteOptions{}); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("complete again with other parts: %v", err)
		}
		if err := s.AbortMultipartUpload(ctx, "mpu", "big.bin", u.UploadID); !errors.Is(err, ErrNoSuchUpload) {
			t.Fatalf("abort a completed upload: %v", err)
		}
		if n := len(outbox(t, e, "us-east-1")); n != len(q) {
			t.Fatalf("repeated calls queued %d more rows", n-len(q))
		}
	})
}

func crc32ChecksumOf(s string) uint32 { return crc32IEEE([]byte(s)) }

func TestCompleteErrors(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "mpu", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, s, object("mpu", "k", "existing", 1))
	// Each case gets an upload with parts 1 (5 MiB), 2 (1 byte) and 3
	// (5 MiB).
	ids := map[int]string{1: "a", 2: "b", 3: "c"}
	sizes := map[int]int64{1: 5 * mib, 2: 1, 3: 5 * mib}
	fresh := func(t *testing.T) Upload {
		u := mustCreateUpload(t, s, "mpu", "k")
		for n := 1; n <= 3; n++ {
			seg := partSegment(ids[n], sizes[n])
			seg.Checksums = map[string]string{ChecksumCRC32: crc32b64([]byte(ids[n]))}
			mustPutPart(t, s, u, n, seg)
		}
		return u
	}
	withETag := func(p []CompletedPart, i int, etag string) []CompletedPart { p[i].ETag = etag; return p }
	tests := []struct {
		name    string
		key     string
		upload  func(Upload) string
		parts   []CompletedPart
		pre     Preconditions
		minPart int64
		want    error
	}{
		{"no parts", "k", nil, nil, Preconditions{}, 0, ErrInvalidArgument},
		{"descending", "k", nil, completed(ids, 3, 1), Preconditions{}, 1, ErrInvalidPartOrder},
		{"repeated", "k", nil, completed(ids, 1, 1), Preconditions{}, 1, ErrInvalidPartOrder},
		{"part not uploaded", "k", nil, completed(ids, 1, 4), Preconditions{}, 1, ErrInvalidPart},
		{"part number 0", "k", nil, []CompletedPart{{PartNumber: 0, ETag: md5hex([]byte("a"))}}, Preconditions{}, 1, ErrInvalidPart},
		{"wrong etag", "k", nil, withETag(completed(ids, 1, 3), 1, md5hex([]byte("zz"))), Preconditions{}, 0, ErrInvalidPart},
		{"wrong checksum", "k", nil, []CompletedPart{{PartNumber: 1, ETag: md5hex([]byte("a")), Checksums: map[string]string{ChecksumCRC32: crc32b64([]byte("zz"))}}}, Preconditions{}, 0, ErrInvalidPart},
		{"checksum the part lacks", "k", nil, []CompletedPart{{PartNumber: 1, ETag: md5hex([]byte("a")), Checksums: map[string]string{ChecksumSHA1: "x"}}}, Preconditions{}, 0, ErrInvalidPart},
		{"small part in the middle", "k", nil, completed(ids, 1, 2, 3), Preconditions{}, 0, ErrEntityTooSmall},
		{"small part with a smaller minimum", "k", nil, completed(ids, 1, 2, 3), Preconditions{}, 1, nil},
		{"small last part", "k", nil, completed(ids, 1, 2), Preconditions{}, 0, nil},
		{"negative minimum", "k", nil, completed(ids, 1, 2), Preconditions{}, -1, ErrInvalidArgument},
		{"if-none-match", "k", nil, completed(ids, 1, 3), Preconditions{IfNoneMatch: true}, 0, ErrPreconditionFailed},
		{"if-match", "k", nil, completed(ids, 1, 3), Preconditions{IfMatch: "nope"}, 0, ErrPreconditionFailed},
		{"unknown upload", "k", func(Upload) string { return "00000000-0000-7000-8000-000000000000" }, completed(ids, 1), Preconditions{}, 0, ErrNoSuchUpload},
		{"malformed upload id", "k", func(Upload) string { return "upload" }, completed(ids, 1), Preconditions{}, 0, ErrNoSuchUpload},
		{"another key", "k2", nil, completed(ids, 1), Preconditions{}, 0, ErrNoSuchUpload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := fresh(t)
			id := u.UploadID
			if tt.upload != nil {
				id = tt.upload(u)
			}
			before := count(t, e.regional["us-east-1"], "SELECT count(*) FROM object_versions")
			beforeQ := len(outbox(t, e, "us-east-1"))
			_, err := s.CompleteMultipartUpload(ctx, "mpu", tt.key, id, tt.parts, CompleteOptions{Preconditions: tt.pre, MinPartSize: tt.minPart})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want == nil {
				return
			}
			// A failed Complete changes nothing: the upload and its parts
			// remain, no version or garbage appears.
			if n := count(t, e.regional["us-east-1"], "SELECT count(*) FROM object_versions"); n != before {
				t.Fatal("a failed complete wrote a version")
			}
			if n := len(outbox(t, e, "us-east-1")); n != beforeQ {
				t.Fatal("a failed complete queued garbage")
			}
			res, err := s.ListParts(ctx, "mpu", "k", u.UploadID, 0, 0)
			if err != nil || len(res.Parts) != 3 {
				t.Fatalf("upload after a failed complete: %+v %v", res, err)
			}
		})
	}
}

func TestPutPartErrors(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "mpu", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	u := mustCreateUpload(t, s, "mpu", "k")
	good := func() Segment { return partSegment("d", 10) }
	tests := []struct {
		name   string
		key    string
		id     string
		number int
		seg    func() Segment
		want   error
	}{
		{"part 0", "k", u.UploadID, 0, good, ErrInvalidArgument},
		{"part 10001", "k", u.UploadID, MaxPartNumber + 1, good, ErrInvalidArgument},
		{"part 10000", "k", u.UploadID, MaxPartNumber, good, nil},
		{"etag not an md5", "k", u.UploadID, 1, func() Segment { s := good(); s.ETag = "abc"; return s }, ErrInvalidArgument},
		{"checksum not base64", "k", u.UploadID, 1, func() Segment {
			s := good()
			s.Checksums = map[string]string{ChecksumCRC32: "***"}
			return s
		}, ErrInvalidArgument},
		{"checksum of the wrong size", "k", u.UploadID, 1, func() Segment {
			s := good()
			s.Checksums = map[string]string{ChecksumSHA256: crc32b64(nil)}
			return s
		}, ErrInvalidArgument},
		{"no nodes", "k", u.UploadID, 1, func() Segment { s := good(); s.NodeIDs = nil; return s }, ErrInvalidArgument},
		{"empty part without data", "k", u.UploadID, 2, func() Segment { return Segment{ETag: md5hex(nil)} }, nil},
		{"unknown upload", "k", "00000000-0000-7000-8000-000000000000", 1, good, ErrNoSuchUpload},
		{"another key", "other", u.UploadID, 1, good, ErrNoSuchUpload},
		{"missing bucket", "k", u.UploadID, 1, good, ErrNoSuchBucket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bucket := "mpu"
			if tt.want == ErrNoSuchBucket {
				bucket = "nope"
			}
			if _, err := s.PutPart(ctx, bucket, tt.key, tt.id, tt.number, tt.seg()); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := s.CreateMultipartUpload(ctx, Upload{Bucket: "mpu", Key: "k", ChecksumAlgorithm: ChecksumCRC64NVME, ChecksumType: ChecksumComposite}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("composite crc64nvme: %v", err)
	}
	if _, err := s.CreateMultipartUpload(ctx, Upload{Bucket: "nope", Key: "k"}); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("upload to a missing bucket: %v", err)
	}
}

// TestUploadOfMissingBucket: a missing bucket is NoSuchBucket for every
// upload operation, even when the upload id could never be one (S3 checks
// the bucket first); an existing bucket with such an id is NoSuchUpload.
func TestUploadOfMissingBucket(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "mpu", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	for bucket, want := range map[string]error{"nope": ErrNoSuchBucket, "mpu": ErrNoSuchUpload} {
		const id = "not-an-upload-id"
		if _, err := s.GetMultipartUpload(ctx, bucket, "k", id); !errors.Is(err, want) {
			t.Errorf("get upload in %s: %v, want %v", bucket, err, want)
		}
		if _, err := s.PutPart(ctx, bucket, "k", id, 1, partSegment("d", 10)); !errors.Is(err, want) {
			t.Errorf("put part in %s: %v, want %v", bucket, err, want)
		}
		if _, err := s.CompleteMultipartUpload(ctx, bucket, "k", id, completed(map[int]string{1: "d"}, 1), CompleteOptions{}); !errors.Is(err, want) {
			t.Errorf("complete in %s: %v, want %v", bucket, err, want)
		}
		if err := s.AbortMultipartUpload(ctx, bucket, "k", id); !errors.Is(err, want) {
			t.Errorf("abort in %s: %v, want %v", bucket, err, want)
		}
	}
}

// TestConcurrentPutPart: parts of one upload arriving at once, several
// under the same number: one part per number survives and every other one
// is queued, none lost.
func TestConcurrentPutPart(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "mpu", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	u := mustCreateUpload(t, s, "mpu", "k")
	const numbers, copies = 4, 3
	var wg sync.WaitGroup
	errs := make(chan error, numbers*copies)
	for n := 1; n <= numbers; n++ {
		for c := range copies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.PutPart(ctx, "mpu", "k", u.UploadID, n, partSegment(fmt.Sprintf("p%d-%d", n, c), 1))
				errs <- err
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.ListParts(ctx, "mpu", "k", u.UploadID, 0, 0)
	if err != nil || len(res.Parts) != numbers {
		t.Fatalf("parts %+v %v", res, err)
	}
	all := dataIDs(outbox(t, e, "us-east-1"))
	for _, p := range res.Parts {
		all = append(all, p.Segment.DataID)
	}
	slices.Sort(all)
	if len(all) != numbers*copies || len(slices.Compact(all)) != numbers*copies {
		t.Fatalf("kept plus queued parts %v, want each of %d once", all, numbers*copies)
	}
}

func TestAbortAndDeleteBucketWithUploads(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	b, err := s.CreateBucket(ctx, "mpu", "us-east-1", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	u := mustCreateUpload(t, s, "mpu", "k")
	mustPutPart(t, s, u, 1, partSegment("a1", 1))
	mustPutPart(t, s, u, 2, partSegment("a2", 1))
	if err := s.AbortMultipartUpload(ctx, "mpu", "other", u.UploadID); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("abort under another key: %v", err)
	}
	if err := s.AbortMultipartUpload(ctx, "mpu", "k", u.UploadID); err != nil {
		t.Fatal(err)
	}
	q := outbox(t, e, "us-east-1")
	if len(q) != 1 || q[0].Type != TaskDeleteParts || !slices.Equal(dataIDs(q), []string{"a1", "a2"}) {
		t.Fatalf("abort queued %+v", q)
	}
	if err := s.AbortMultipartUpload(ctx, "mpu", "k", u.UploadID); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("abort twice: %v", err)
	}
	if _, err := s.PutPart(ctx, "mpu", "k", u.UploadID, 3, partSegment("a3", 1)); !errors.Is(err, ErrNoSuchUpload) {
		t.Fatalf("put part after abort: %v", err)
	}
	// An empty upload aborts without queueing anything.
	empty := mustCreateUpload(t, s, "mpu", "k")
	if err := s.AbortMultipartUpload(ctx, "mpu", "k", empty.UploadID); err != nil {
		t.Fatal(err)
	}
	if n := len(outbox(t, e, "us-east-1")); n != 1 {
		t.Fatalf("aborting an empty upload queued rows: %d", n)
	}

	// Uploads in progress do not keep a bucket, as on AWS: deleting it
	// aborts them.
	u1 := mustCreateUpload(t, s, "mpu", "x")
	u2 := mustCreateUpload(t, s, "mpu", "y")
	mustPutPart(t, s, u1, 1, partSegment("x1", 1))
	mustPutPart(t, s, u2, 1, partSegment("y1", 1))
	mustPutPart(t, s, u2, 2, partSegment("y2", 1))
	done := mustCreateUpload(t, s, "mpu", "z")
	mustPutPart(t, s, done, 1, partSegment("z1", 1))
	if _, err := s.CompleteMultipartUpload(ctx, "mpu", "z", done.UploadID, []CompletedPart{{PartNumber: 1, ETag: md5hex([]byte("z1"))}}, CompleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBucket(ctx, "mpu", false); !errors.Is(err, ErrBucketNotEmpty) {
		t.Fatalf("delete bucket with an object: %v", err)
	}
	mustDelete(t, s, "mpu", "z", "")
	if err := s.DeleteBucket(ctx, "mpu", false); err != nil {
		t.Fatalf("delete bucket with uploads in progress: %v", err)
	}
	if got := dataIDs(outbox(t, e, "us-east-1")); !slices.Equal(got, []string{"a1", "a2", "x1", "y1", "y2", "z1"}) {
		t.Fatalf("queued %v", got)
	}
	if n := count(t, e.regional["us-east-1"], "SELECT count(*) FROM multipart_uploads WHERE bucket_id = $1", b.ID); n != 0 {
		t.Fatalf("%d uploads left", n)
	}
	if _, err := s.CreateMultipartUpload(ctx, Upload{Bucket: "mpu", Key: "k"}); !errors.Is(err, ErrNoSuchBucket) {
		t.Fatalf("upload into a deleted bucket: %v", err)
	}
}

func TestCompleteFollowsVersioning(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "mpu", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBucketVersioning(ctx, "mpu", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	first := mustCommit(t, s, object("mpu", "k", "first", 1))
	u := mustCreateUpload(t, s, "mpu", "k")
	mustPutPart(t, s, u, 1, partSegment("m1", 1))
	v, err := s.CompleteMultipartUpload(ctx, "mpu", "k", u.UploadID, []CompletedPart{{PartNumber: 1, ETag: md5hex([]byte("m1"))}}, CompleteOptions{Preconditions: Preconditions{IfMatch: "etag-first"}})
	if err != nil {
		t.Fatal(err)
	}
	if !isUUID(v.VersionID) || v.VersionID == first.VersionID {
		t.Fatalf("completed %+v", v)
	}
	if got := mustGet(t, s, "mpu", "k", first.VersionID); got.IsLatest {
		t.Fatal("older version still current")
	}
	if n := len(outbox(t, e, "us-east-1")); n != 0 {
		t.Fatalf("an enabled bucket queued %d rows", n)
	}
}

// TestFullObjectChecksum: a CRC64NVME upload gets the CRC of the whole
// object, from its parts' CRCs.
func TestFullObjectChecksum(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "mpu", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateMultipartUpload(ctx, Upload{Bucket: "mpu", Key: "k", ChecksumAlgorithm: ChecksumCRC64NVME})
	if err != nil {
		t.Fatal(err)
	}
	data := [][]byte{[]byte("first part, "), []byte("second part, "), []byte("last")}
	var whole []byte
	var parts []CompletedPart
	for i, d := range data {
		seg := segment(fmt.Sprintf("f%d", i), int64(len(d)))
		seg.ETag = md5hex(d)
		seg.Checksums = map[string]string{ChecksumCRC64NVME: b64(binary.BigEndian.AppendUint64(nil, crc64NVME(d)))}
		mustPutPart(t, s, u, i+1, seg)
		parts = append(parts, CompletedPart{PartNumber: i + 1, ETag: md5hex(d)})
		whole = append(whole, d...)
	}
	v, err := s.CompleteMultipartUpload(ctx, "mpu", "k", u.UploadID, parts, CompleteOptions{MinPartSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := b64(binary.BigEndian.AppendUint64(nil, crc64NVME(whole)))
	if v.Checksums[ChecksumCRC64NVME] != want || v.ChecksumType != ChecksumFullObject {
		t.Fatalf("checksum %v %s, want %s", v.Checksums, v.ChecksumType, want)
	}
}
