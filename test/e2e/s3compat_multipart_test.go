package e2e

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// genChunk is the granularity of genObject's random access.
const genChunk = 1 << 20

// genObject is a deterministic object of any size that is never held in
// memory: chunk i (1 MiB) is the ChaCha8 stream of (seed, i), so any byte
// range can be regenerated to check a read.
type genObject struct {
	seed uint64
	size int64
}

func (g genObject) chunk(i int64, buf []byte) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], g.seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(i))
	key[16] = 0x5e
	buf = buf[:genChunk]
	_, _ = rand.NewChaCha8(key).Read(buf)
	return buf
}

// section returns a reader of bytes [off, off+n) of the object.
func (g genObject) section(off, n int64) *genReader {
	return &genReader{g: g, start: off, end: off + n, pos: off, cur: -1}
}

// genReader reads a section of a genObject. It seeks (the SDK rewinds
// bodies to sign or retry them) and keeps the MD5 of one full sequential
// pass from the start, so a part's ETag can be checked without reading the
// part twice.
type genReader struct {
	g               genObject
	start, end, pos int64
	cur             int64 // index of the chunk in buf, -1 for none
	buf             []byte
	md5             hash.Hash // nil unless one sequential pass from start is under way
}

func (r *genReader) Read(p []byte) (int, error) {
	if r.pos >= r.end {
		return 0, io.EOF
	}
	if r.pos == r.start {
		r.md5 = md5.New()
	}
	ci := r.pos / genChunk
	if ci != r.cur {
		if r.buf == nil {
			r.buf = make([]byte, genChunk)
		}
		r.buf = r.g.chunk(ci, r.buf)
		r.cur = ci
	}
	in := r.pos - ci*genChunk
	n := copy(p, r.buf[in:min(int64(genChunk), in+(r.end-r.pos))])
	if r.md5 != nil {
		r.md5.Write(p[:n])
	}
	r.pos += int64(n)
	return n, nil
}

func (r *genReader) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = r.start + offset
	case io.SeekCurrent:
		abs = r.pos + offset
	case io.SeekEnd:
		abs = r.end + offset
	default:
		return 0, errors.New("genReader: bad whence")
	}
	if abs < r.start || abs > r.end {
		return 0, fmt.Errorf("genReader: seek to %d outside [%d, %d]", abs, r.start, r.end)
	}
	if abs != r.pos {
		r.md5 = nil
	}
	r.pos = abs
	return abs - r.start, nil
}

// md5Hex returns the MD5 of the section when it was read once, in full,
// from its start; "" otherwise.
func (r *genReader) md5Hex() string {
	if r.md5 == nil || r.pos != r.end {
		return ""
	}
	return hex.EncodeToString(r.md5.Sum(nil))
}

// equalStream compares a reader with a section of the object in 1 MiB
// steps, without holding either.
func equalStream(got io.Reader, want *genReader) error {
	a, b := make([]byte, genChunk), make([]byte, genChunk)
	var off int64
	for {
		n, errWant := io.ReadFull(want, b)
		if n > 0 {
			m, err := io.ReadFull(got, a[:n])
			if m < n {
				return fmt.Errorf("short read: %d bytes, want %d (%v)", off+int64(m), want.end-want.start, err)
			}
			if !bytes.Equal(a[:n], b[:n]) {
				i := 0
				for a[i] == b[i] {
					i++
				}
				return fmt.Errorf("byte %d of the range differs", off+int64(i))
			}
			off += int64(n)
		}
		if errWant != nil { // the section is exhausted
			if k, _ := io.ReadFull(got, a[:1]); k > 0 {
				return fmt.Errorf("more than the %d bytes expected", off)
			}
			return nil
		}
	}
}

// multipartETag is S3's ETag of a multipart object: the MD5 of the
// concatenated binary part MD5s, "-", the part count.
func multipartETag(partMD5s []string) string {
	h := md5.New()
	for _, s := range partMD5s {
		b, _ := hex.DecodeString(s)
		h.Write(b)
	}
	return fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(h.Sum(nil)), len(partMD5s))
}

// unsignedPayload makes the SDK send UNSIGNED-PAYLOAD rather than hash a
// 50 MiB part before sending it.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// A 5 GiB object uploaded as 100 parts, 8 at a time, through a dedicated
// gateway: it completes with the right multipart ETag, the gateway's peak
// resident memory stays bounded, and ranged reads across part boundaries
// return exactly the bytes written.
func TestS3CompatMultipart5GiB(t *testing.T) {
	const (
		size     = 5 << 30
		parts    = 100
		parallel = 8
		peakMax  = 512 << 20
	)
	partSize := int64((size + parts - 1) / parts) // ~51.2 MiB; the last part is smaller
	obj := genObject{seed: 5005, size: size}

	url, err := cluster.StartGateway(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	gw := cluster.Processes()[len(cluster.Processes())-1]
	t.Cleanup(func() { _ = cluster.Kill(gw.ID) })
	c := s3Client(url, "", "", func(o *s3.Options) {
		// Checksums are not what this test measures; keep the parts plain.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	bucket := newBucket(t, c)
	key := "five-gib"

	mpu, err := c.CreateMultipartUpload(ctx(t), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("create multipart upload: %v", err)
	}
	uploadID := mpu.UploadId
	completed := make([]types.CompletedPart, parts)
	partMD5s := make([]string, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range parts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			off := int64(i) * partSize
			n := min(partSize, size-off)
			body := obj.section(off, n)
			num := int32(i + 1)
			out, err := c.UploadPart(ctx(t), &s3.UploadPartInput{
				Bucket: &bucket, Key: &key, UploadId: uploadID, PartNumber: &num,
				Body: body, ContentLength: &n,
			}, unsignedPayload)
			if err != nil {
				errs[i] = fmt.Errorf("upload part %d: %w", num, err)
				return
			}
			sum := body.md5Hex()
			if sum == "" {
				// The body was rewound part-way; hash the part afresh.
				h := md5.New()
				_, _ = io.Copy(h, obj.section(off, n))
				sum = hex.EncodeToString(h.Sum(nil))
			}
			if got := strings.Trim(aws.ToString(out.ETag), `"`); got != sum {
				errs[i] = fmt.Errorf("part %d: ETag %s, want the part's MD5 %s", num, got, sum)
				return
			}
			partMD5s[i] = sum
			completed[i] = types.CompletedPart{PartNumber: &num, ETag: out.ETag}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_, _ = c.AbortMultipartUpload(ctx(t), &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: &key, UploadId: uploadID})
		t.Fatal(err)
	}
	done, err := c.CompleteMultipartUpload(ctx(t), &s3.CompleteMultipartUploadInput{
		Bucket: &bucket, Key: &key, UploadId: uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: completed},
	})
	if err != nil {
		t.Fatalf("complete multipart upload: %v", err)
	}
	wantETag := multipartETag(partMD5s)
	if aws.ToString(done.ETag) != wantETag {
		t.Fatalf("complete: ETag %s, want %s", aws.ToString(done.ETag), wantETag)
	}
	t.Cleanup(func() {
		// 7.5 GiB of shards: give the space back.
		_, _ = rootClient().DeleteObject(ctx(t), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key})
	})

	head, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) != size || aws.ToString(head.ETag) != wantETag {
		t.Fatalf("HEAD: %d bytes, ETag %s; want %d, %s", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag), int64(size), wantETag)
	}
	headPart, err := c.HeadObject(ctx(t), &s3.HeadObjectInput{Bucket: &bucket, Key: &key, PartNumber: aws.Int32(parts)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(headPart.PartsCount) != parts || aws.ToInt64(headPart.ContentLength) != size-(parts-1)*partSize {
		t.Fatalf("HEAD partNumber=%d: parts count %d, length %d", parts, aws.ToInt32(headPart.PartsCount), aws.ToInt64(headPart.ContentLength))
	}

	ranges := []struct {
		name       string
		first, end int64 // [first, end)
	}{
		{"first byte", 0, 1},
		{"boundary 1|2", partSize - 100, partSize + 100},
		{"boundary 50|51", 50*partSize - 1, 50*partSize + 1},
		{"boundary 99|100", 99*partSize - 4096, 99*partSize + 4096},
		{"parts 10 to 12 whole", 9*partSize - 7, 12*partSize + 7},
		{"last bytes", size - 1000, size},
	}
	for _, r := range ranges {
		t.Run(r.name, func(t *testing.T) {
			rng := fmt.Sprintf("bytes=%d-%d", r.first, r.end-1)
			out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: &key, Range: &rng})
			if err != nil {
				t.Fatalf("GET %s: %v", rng, err)
			}
			defer out.Body.Close()
			if aws.ToInt64(out.ContentLength) != r.end-r.first {
				t.Fatalf("GET %s: Content-Length %d", rng, aws.ToInt64(out.ContentLength))
			}
			if want := fmt.Sprintf("bytes %d-%d/%d", r.first, r.end-1, int64(size)); aws.ToString(out.ContentRange) != want {
				t.Fatalf("GET %s: Content-Range %q, want %q", rng, aws.ToString(out.ContentRange), want)
			}
			if err := equalStream(out.Body, obj.section(r.first, r.end-r.first)); err != nil {
				t.Fatalf("GET %s: %v", rng, err)
			}
		})
	}
	t.Run("partNumber 37", func(t *testing.T) {
		out, err := c.GetObject(ctx(t), &s3.GetObjectInput{Bucket: &bucket, Key: &key, PartNumber: aws.Int32(37)})
		if err != nil {
			t.Fatal(err)
		}
		defer out.Body.Close()
		if aws.ToInt32(out.PartsCount) != parts {
			t.Fatalf("parts count %d, want %d", aws.ToInt32(out.PartsCount), parts)
		}
		if err := equalStream(out.Body, obj.section(36*partSize, partSize)); err != nil {
			t.Fatal(err)
		}
	})

	peak := peakRSS(t, gw.PID)
	t.Logf("gateway peak RSS over a 5 GiB multipart upload (%d parts, %d at a time) and ranged reads: %.1f MiB",
		parts, parallel, float64(peak)/(1<<20))
	if peak > peakMax {
		t.Fatalf("gateway peak RSS %.1f MiB exceeds %d MiB", float64(peak)/(1<<20), peakMax>>20)
	}
}
