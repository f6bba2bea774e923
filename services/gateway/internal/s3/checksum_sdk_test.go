package s3_test

// The checksum algorithms S3 added after its first five (MD5, SHA512,
// XXHASH64, XXHASH3, XXHASH128), and composite checksums stated without
// their part count, driven by aws-sdk-go-v2 and raw requests against the
// real handler over the in-memory fakes.

import (
	"bytes"
	"crypto/md5"
	"crypto/sha512"
	"encoding/base64"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"
)

// newAlgorithms are the later algorithms; S3 offers them as COMPOSITE
// only for multipart uploads.
func newAlgorithms() []string { return []string{"MD5", "SHA512", "XXHASH64", "XXHASH3", "XXHASH128"} }

func newAlgoHash(algo string) hash.Hash {
	switch algo {
	case "MD5":
		return md5.New()
	case "SHA512":
		return sha512.New()
	case "XXHASH64":
		return xxhash.New()
	case "XXHASH3":
		return xxh3.New()
	case "XXHASH128":
		return xxh3.New128()
	}
	return refHash(algo)
}

func newAlgoSum(algo string, data []byte) string {
	h := newAlgoHash(algo)
	h.Write(data)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func newAlgoComposite(algo string, parts ...[]byte) string {
	h := newAlgoHash(algo)
	for _, p := range parts {
		r := newAlgoHash(algo)
		r.Write(p)
		h.Write(r.Sum(nil))
	}
	return base64.StdEncoding.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

// sdkSum picks algo's value out of the SDK's ten checksum fields, given in
// a fixed order: CRC32, CRC32C, CRC64NVME, SHA1, SHA256, MD5, SHA512,
// XXHASH64, XXHASH3, XXHASH128.
func sdkSum(algo string, v ...*string) string {
	order := []string{"CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256", "MD5", "SHA512", "XXHASH64", "XXHASH3", "XXHASH128"}
	i := slices.Index(order, algo)
	if i < 0 || i >= len(v) {
		return ""
	}
	return aws.ToString(v[i])
}

func setPutSum(in *awss3.PutObjectInput, algo, v string) {
	switch algo {
	case "MD5":
		in.ChecksumMD5 = aws.String(v)
	case "SHA512":
		in.ChecksumSHA512 = aws.String(v)
	case "XXHASH64":
		in.ChecksumXXHASH64 = aws.String(v)
	case "XXHASH3":
		in.ChecksumXXHASH3 = aws.String(v)
	case "XXHASH128":
		in.ChecksumXXHASH128 = aws.String(v)
	}
}

func setPartSum(in *awss3.UploadPartInput, algo, v string) {
	switch algo {
	case "MD5":
		in.ChecksumMD5 = aws.String(v)
	case "SHA512":
		in.ChecksumSHA512 = aws.String(v)
	case "XXHASH64":
		in.ChecksumXXHASH64 = aws.String(v)
	case "XXHASH3":
		in.ChecksumXXHASH3 = aws.String(v)
	case "XXHASH128":
		in.ChecksumXXHASH128 = aws.String(v)
	}
}

func withNewPartSum(p types.CompletedPart, algo, v string) types.CompletedPart {
	switch algo {
	case "MD5":
		p.ChecksumMD5 = aws.String(v)
	case "SHA512":
		p.ChecksumSHA512 = aws.String(v)
	case "XXHASH64":
		p.ChecksumXXHASH64 = aws.String(v)
	case "XXHASH3":
		p.ChecksumXXHASH3 = aws.String(v)
	case "XXHASH128":
		p.ChecksumXXHASH128 = aws.String(v)
	}
	return p
}

func TestPutNewChecksumAlgorithms(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "new-sums")
	c := e.plainClient()
	ctx := ctxT(t)
	data := randBytes(2*int(testParams.StripeSize())+5, 51)
	for _, algo := range newAlgorithms() {
		t.Run(algo, func(t *testing.T) {
			key := "put-" + algo
			want := newAlgoSum(algo, data)
			in := &awss3.PutObjectInput{Bucket: aws.String("new-sums"), Key: aws.String(key), Body: bytes.NewReader(data)}
			setPutSum(in, algo, want)
			out, err := c.PutObject(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got := sdkSum(algo, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256,
				out.ChecksumMD5, out.ChecksumSHA512, out.ChecksumXXHASH64, out.ChecksumXXHASH3, out.ChecksumXXHASH128)
			if got != want || out.ChecksumType != types.ChecksumTypeFullObject {
				t.Fatalf("put answered %q (%s), want %q", got, out.ChecksumType, want)
			}
			// The client's algorithm replaces the default CRC64NVME.
			if out.ChecksumCRC64NVME != nil {
				t.Fatalf("default checksum also shown: %q", aws.ToString(out.ChecksumCRC64NVME))
			}
			if v := e.meta.Object("new-sums", key); v.GetChecksums()[algo] != want || len(v.GetChecksums()) != 1 {
				t.Fatalf("stored checksums %v", v.GetChecksums())
			}
			gout, err := c.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("new-sums"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(gout.Body)
			_ = gout.Body.Close()
			if err != nil || !bytes.Equal(body, data) {
				t.Fatalf("get: %v", err)
			}
			got = sdkSum(algo, gout.ChecksumCRC32, gout.ChecksumCRC32C, gout.ChecksumCRC64NVME, gout.ChecksumSHA1, gout.ChecksumSHA256,
				gout.ChecksumMD5, gout.ChecksumSHA512, gout.ChecksumXXHASH64, gout.ChecksumXXHASH3, gout.ChecksumXXHASH128)
			if got != want {
				t.Fatalf("get shows %q, want %q", got, want)
			}

			header := http.CanonicalHeaderKey("x-amz-checksum-" + strings.ToLower(algo))
			resp, rb := do(t, e.signedRequest(t, "PUT", "/new-sums/"+key+"-bad", data, http.Header{header: {newAlgoSum(algo, []byte("other"))}}, ""))
			checkXMLError(t, resp, rb, 400, "BadDigest")
			resp, rb = do(t, e.signedRequest(t, "PUT", "/new-sums/"+key+"-bad", data, http.Header{header: {refSum("CRC32", data)}}, ""))
			if x := checkXMLError(t, resp, rb, 400, "InvalidRequest"); !strings.Contains(x.Message, strings.ToLower(header)) {
				t.Fatalf("message %q does not name %s", x.Message, strings.ToLower(header))
			}

			// The same checksum in a trailer of an aws-chunked body.
			trailer := "x-amz-checksum-" + strings.ToLower(algo)
			resp, rb = do(t, e.trailerRequest(t, "/new-sums/"+key+"-trailed", data, trailer, want))
			if resp.StatusCode != 200 || resp.Header.Get(trailer) != want {
				t.Fatalf("trailer put: %d %s %q", resp.StatusCode, rb, resp.Header.Get(trailer))
			}
			if v := e.meta.Object("new-sums", key+"-trailed"); v.GetChecksums()[algo] != want {
				t.Fatalf("stored checksums %v", v.GetChecksums())
			}
			resp, rb = do(t, e.trailerRequest(t, "/new-sums/"+key+"-trailed-bad", data, trailer, newAlgoSum(algo, []byte("x"))))
			checkXMLError(t, resp, rb, 400, "BadDigest")
			if e.meta.Object("new-sums", key+"-bad") != nil || e.meta.Object("new-sums", key+"-trailed-bad") != nil {
				t.Fatal("a rejected PUT was stored")
			}
		})
	}
}

func TestMultipartNewChecksumAlgorithms(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "new-mp")
	c := e.plainClient()
	ctx := ctxT(t)
	p1, p2 := randBytes(testMinPart+3, 61), randBytes(777, 62)
	all := slices.Concat(p1, p2)
	for _, algo := range newAlgorithms() {
		t.Run(algo, func(t *testing.T) {
			key := "mp-" + algo
			id := e.createMP(t, c, "new-mp", key, func(in *awss3.CreateMultipartUploadInput) {
				in.ChecksumAlgorithm = types.ChecksumAlgorithm(algo)
			})
			var parts []types.CompletedPart
			for i, data := range [][]byte{p1, p2} {
				n := int32(i + 1)
				sum := newAlgoSum(algo, data)
				out := e.uploadPart(t, c, "new-mp", key, id, n, data, func(in *awss3.UploadPartInput) { setPartSum(in, algo, sum) })
				got := sdkSum(algo, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256,
					out.ChecksumMD5, out.ChecksumSHA512, out.ChecksumXXHASH64, out.ChecksumXXHASH3, out.ChecksumXXHASH128)
				if got != sum {
					t.Fatalf("part %d checksum %q, want %q", n, got, sum)
				}
				parts = append(parts, withNewPartSum(part(n, aws.ToString(out.ETag)), algo, sum))
			}
			lp, err := c.ListParts(ctx, &awss3.ListPartsInput{Bucket: aws.String("new-mp"), Key: aws.String(key), UploadId: aws.String(id)})
			if err != nil || len(lp.Parts) != 2 || lp.ChecksumAlgorithm != types.ChecksumAlgorithm(algo) || lp.ChecksumType != types.ChecksumTypeComposite {
				t.Fatalf("list parts: %v %+v", err, lp)
			}
			if got := sdkSum(algo, nil, nil, nil, nil, nil, lp.Parts[1].ChecksumMD5, lp.Parts[1].ChecksumSHA512,
				lp.Parts[1].ChecksumXXHASH64, lp.Parts[1].ChecksumXXHASH3, lp.Parts[1].ChecksumXXHASH128); got != newAlgoSum(algo, p2) {
				t.Fatalf("listed part checksum %q", got)
			}

			// Every part's checksum is required for a composite.
			_, err = c.CompleteMultipartUpload(ctx, completeInput("new-mp", key, id, part(1, aws.ToString(parts[0].ETag)), parts[1]))
			wantAPIError(t, err, "InvalidRequest", 400)

			want := newAlgoComposite(algo, p1, p2)
			in := completeInput("new-mp", key, id, parts...)
			out, err := c.CompleteMultipartUpload(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			got := sdkSum(algo, out.ChecksumCRC32, out.ChecksumCRC32C, out.ChecksumCRC64NVME, out.ChecksumSHA1, out.ChecksumSHA256,
				out.ChecksumMD5, out.ChecksumSHA512, out.ChecksumXXHASH64, out.ChecksumXXHASH3, out.ChecksumXXHASH128)
			if got != want || out.ChecksumType != types.ChecksumTypeComposite {
				t.Fatalf("complete answered %q (%s), want %q", got, out.ChecksumType, want)
			}
			hout, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("new-mp"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			got = sdkSum(algo, hout.ChecksumCRC32, hout.ChecksumCRC32C, hout.ChecksumCRC64NVME, hout.ChecksumSHA1, hout.ChecksumSHA256,
				hout.ChecksumMD5, hout.ChecksumSHA512, hout.ChecksumXXHASH64, hout.ChecksumXXHASH3, hout.ChecksumXXHASH128)
			if got != want || hout.ChecksumType != types.ChecksumTypeComposite {
				t.Fatalf("head shows %q (%s), want %q", got, hout.ChecksumType, want)
			}
			// A partNumber read of a composite shows that part's checksum.
			hout, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("new-mp"), Key: aws.String(key),
				PartNumber: aws.Int32(2), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			got = sdkSum(algo, hout.ChecksumCRC32, hout.ChecksumCRC32C, hout.ChecksumCRC64NVME, hout.ChecksumSHA1, hout.ChecksumSHA256,
				hout.ChecksumMD5, hout.ChecksumSHA512, hout.ChecksumXXHASH64, hout.ChecksumXXHASH3, hout.ChecksumXXHASH128)
			if got != newAlgoSum(algo, p2) || hout.ChecksumType != types.ChecksumTypeComposite {
				t.Fatalf("part 2 head shows %q (%s), want %q", got, hout.ChecksumType, newAlgoSum(algo, p2))
			}
			attrs, err := c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: aws.String("new-mp"), Key: aws.String(key),
				ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts}})
			if err != nil || attrs.Checksum == nil || attrs.ObjectParts == nil || len(attrs.ObjectParts.Parts) != 2 {
				t.Fatalf("attributes: %v %+v", err, attrs)
			}
			ck := attrs.Checksum
			// GetObjectAttributes shows a composite without its part count.
			got = sdkSum(algo, ck.ChecksumCRC32, ck.ChecksumCRC32C, ck.ChecksumCRC64NVME, ck.ChecksumSHA1, ck.ChecksumSHA256,
				ck.ChecksumMD5, ck.ChecksumSHA512, ck.ChecksumXXHASH64, ck.ChecksumXXHASH3, ck.ChecksumXXHASH128)
			if base, _, _ := strings.Cut(want, "-"); got != base {
				t.Fatalf("attributes checksum %q, want %q", got, base)
			}
			ap := attrs.ObjectParts.Parts[0]
			if got := sdkSum(algo, ap.ChecksumCRC32, ap.ChecksumCRC32C, ap.ChecksumCRC64NVME, ap.ChecksumSHA1, ap.ChecksumSHA256,
				ap.ChecksumMD5, ap.ChecksumSHA512, ap.ChecksumXXHASH64, ap.ChecksumXXHASH3, ap.ChecksumXXHASH128); got != newAlgoSum(algo, p1) {
				t.Fatalf("attributes part checksum %q", got)
			}

			// A copy is a new single-part object: the full object's digest.
			if _, err := c.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("new-mp"), Key: aws.String(key + "-copy"),
				CopySource: aws.String("new-mp/" + key)}); err != nil {
				t.Fatal(err)
			}
			hout, err = c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("new-mp"), Key: aws.String(key + "-copy"), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			got = sdkSum(algo, hout.ChecksumCRC32, hout.ChecksumCRC32C, hout.ChecksumCRC64NVME, hout.ChecksumSHA1, hout.ChecksumSHA256,
				hout.ChecksumMD5, hout.ChecksumSHA512, hout.ChecksumXXHASH64, hout.ChecksumXXHASH3, hout.ChecksumXXHASH128)
			if got != newAlgoSum(algo, all) || hout.ChecksumType != types.ChecksumTypeFullObject {
				t.Fatalf("copy shows %q (%s), want %q", got, hout.ChecksumType, newAlgoSum(algo, all))
			}
		})
	}
	t.Run("full object parts show their CRCs", func(t *testing.T) {
		// minio-go checks this of S3: GetObjectAttributes lists a
		// CRC64NVME upload's parts with their CRCs.
		id := e.createMP(t, c, "new-mp", "crc64", func(in *awss3.CreateMultipartUploadInput) {
			in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc64nvme
		})
		var parts []types.CompletedPart
		for i, data := range [][]byte{p1, p2} {
			out := e.uploadPart(t, c, "new-mp", "crc64", id, int32(i+1), data, func(in *awss3.UploadPartInput) {
				in.ChecksumCRC64NVME = aws.String(refSum("CRC64NVME", data))
			})
			parts = append(parts, part(int32(i+1), aws.ToString(out.ETag)))
		}
		if _, err := c.CompleteMultipartUpload(ctx, completeInput("new-mp", "crc64", id, parts...)); err != nil {
			t.Fatal(err)
		}
		attrs, err := c.GetObjectAttributes(ctx, &awss3.GetObjectAttributesInput{Bucket: aws.String("new-mp"), Key: aws.String("crc64"),
			ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesChecksum, types.ObjectAttributesObjectParts}})
		if err != nil || attrs.Checksum == nil || attrs.ObjectParts == nil || len(attrs.ObjectParts.Parts) != 2 {
			t.Fatalf("attributes: %v %+v", err, attrs)
		}
		if got := aws.ToString(attrs.Checksum.ChecksumCRC64NVME); got != refSum("CRC64NVME", all) || attrs.Checksum.ChecksumType != types.ChecksumTypeFullObject {
			t.Fatalf("object checksum %q (%s)", got, attrs.Checksum.ChecksumType)
		}
		for i, data := range [][]byte{p1, p2} {
			if got := aws.ToString(attrs.ObjectParts.Parts[i].ChecksumCRC64NVME); got != refSum("CRC64NVME", data) {
				t.Fatalf("part %d CRC %q, want %q", i+1, got, refSum("CRC64NVME", data))
			}
		}
	})
	t.Run("full object refused", func(t *testing.T) {
		for _, algo := range newAlgorithms() {
			_, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("new-mp"), Key: aws.String("x"),
				ChecksumAlgorithm: types.ChecksumAlgorithm(algo), ChecksumType: types.ChecksumTypeFullObject})
			wantAPIError(t, err, "InvalidRequest", 400)
			if got, want := apiMessage(err), "The FULL_OBJECT checksum type cannot be used with the "+strings.ToLower(algo)+" checksum algorithm."; got != want {
				t.Fatalf("message = %q, want %q", got, want)
			}
		}
	})
}

// TestCompleteStatedComposite: CompleteMultipartUpload may state the
// composite checksum with or without "-<parts>" (minio-go sends the bare
// digest with x-amz-checksum-type: COMPOSITE); a wrong one is BadDigest.
func TestCompleteStatedComposite(t *testing.T) {
	e := newMultipartEnv(t)
	e.createBucket(t, "stated")
	c := e.plainClient()
	p1, p2 := randBytes(testMinPart, 71), randBytes(100, 72)
	tests := []struct {
		name, algo string
		stated     func(composite string) string
		code       string
	}{
		{"crc32c bare", "CRC32C", func(s string) string { b, _, _ := strings.Cut(s, "-"); return b }, ""},
		{"crc32c with part count", "CRC32C", func(s string) string { return s }, ""},
		{"xxhash3 bare", "XXHASH3", func(s string) string { b, _, _ := strings.Cut(s, "-"); return b }, ""},
		{"md5 with part count", "MD5", func(s string) string { return s }, ""},
		{"sha512 bare", "SHA512", func(s string) string { b, _, _ := strings.Cut(s, "-"); return b }, ""},
		{"crc32c wrong part count", "CRC32C", func(s string) string { b, _, _ := strings.Cut(s, "-"); return b + "-3" }, "BadDigest"},
		{"crc32c wrong digest", "CRC32C", func(string) string { return refSum("CRC32C", p1) }, "BadDigest"},
		{"xxhash128 wrong digest", "XXHASH128", func(string) string { return newAlgoSum("XXHASH128", p1) + "-2" }, "BadDigest"},
		{"md5 of the wrong size", "MD5", func(string) string { return refSum("CRC32", p1) }, "InvalidRequest"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "k" + strconv.Itoa(i)
			id := e.createMP(t, c, "stated", key, func(in *awss3.CreateMultipartUploadInput) {
				in.ChecksumAlgorithm = types.ChecksumAlgorithm(tt.algo)
			})
			var listed []string
			for n, data := range [][]byte{p1, p2} {
				sum := newAlgoSum(tt.algo, data)
				out := e.uploadPart(t, c, "stated", key, id, int32(n+1), data, func(in *awss3.UploadPartInput) {
					if slices.Contains(newAlgorithms(), tt.algo) {
						setPartSum(in, tt.algo, sum)
					} else {
						in.ChecksumCRC32C = aws.String(sum)
					}
				})
				listed = append(listed, `<Part><PartNumber>`+strconv.Itoa(n+1)+`</PartNumber><ETag>`+aws.ToString(out.ETag)+
					`</ETag><Checksum`+tt.algo+`>`+sum+`</Checksum`+tt.algo+`></Part>`)
			}
			body := []byte(`<CompleteMultipartUpload>` + strings.Join(listed, "") + `</CompleteMultipartUpload>`)
			composite := newAlgoComposite(tt.algo, p1, p2)
			hdr := http.Header{
				http.CanonicalHeaderKey("x-amz-checksum-" + strings.ToLower(tt.algo)): {tt.stated(composite)},
				"X-Amz-Checksum-Type": {"COMPOSITE"},
			}
			resp, rb := do(t, e.signedRequest(t, "POST", "/stated/"+key+"?uploadId="+id, body, hdr, ""))
			if tt.code != "" {
				checkXMLError(t, resp, rb, 400, tt.code)
				if e.meta.Object("stated", key) != nil {
					t.Fatal("a refused complete created the object")
				}
				return
			}
			if resp.StatusCode != 200 || !bytes.Contains(rb, []byte(">"+composite+"<")) {
				t.Fatalf("complete: %d %s, want %s", resp.StatusCode, rb, composite)
			}
		})
	}
}

// TestPutChecksumAlgorithmHeader: a PUT naming an algorithm in
// x-amz-checksum-algorithm, without a value, gets that checksum computed
// instead of the default (minio-go's automatic CRC32C).
func TestPutChecksumAlgorithmHeader(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "algo-hdr")
	data := randBytes(10<<10, 81)
	tests := []struct {
		name, algo, want string
	}{
		{"crc32c", "CRC32C", "CRC32C"},
		{"xxhash3", "xxhash3", "XXHASH3"},
		{"unknown name ignored", "BLAKE3", "CRC64NVME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, e.signedRequest(t, "PUT", "/algo-hdr/"+tt.want, data, http.Header{"X-Amz-Checksum-Algorithm": {tt.algo}}, ""))
			if resp.StatusCode != 200 {
				t.Fatalf("put: %d %s", resp.StatusCode, body)
			}
			want := newAlgoSum(tt.want, data)
			if got := resp.Header.Get("x-amz-checksum-" + strings.ToLower(tt.want)); got != want {
				t.Fatalf("x-amz-checksum-%s = %q, want %q (headers %v)", strings.ToLower(tt.want), got, want, resp.Header)
			}
			if v := e.meta.Object("algo-hdr", tt.want); len(v.GetChecksums()) != 1 || v.GetChecksums()[tt.want] != want {
				t.Fatalf("stored checksums %v", v.GetChecksums())
			}
		})
	}
}

// A partNumber read of a multi-part FULL_OBJECT CRC32C object shows that
// part's CRC32C (minio-go's testTrailingChecksums, written against S3); the
// default CRC64NVME is shown for no part (TestMultipartUpload).
func TestPartReadOfFullObjectCRC32C(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	e.createBucket(t, "fullobj")
	key := aws.String("k")
	up, err := e.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("fullobj"), Key: key,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumType: types.ChecksumTypeFullObject})
	if err != nil {
		t.Fatal(err)
	}
	p1, p2 := bytes.Repeat([]byte("a"), 5<<20), []byte("the second part")
	var done []types.CompletedPart
	for i, p := range [][]byte{p1, p2} {
		n := aws.Int32(int32(i + 1))
		out, err := e.client.UploadPart(ctx, &awss3.UploadPartInput{Bucket: aws.String("fullobj"), Key: key, UploadId: up.UploadId,
			PartNumber: n, Body: bytes.NewReader(p), ChecksumCRC32C: aws.String(refSum("CRC32C", p))})
		if err != nil {
			t.Fatal(err)
		}
		done = append(done, types.CompletedPart{PartNumber: n, ETag: out.ETag, ChecksumCRC32C: out.ChecksumCRC32C})
	}
	if _, err := e.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{Bucket: aws.String("fullobj"), Key: key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}); err != nil {
		t.Fatal(err)
	}
	hout, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("fullobj"), Key: key,
		PartNumber: aws.Int32(2), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(hout.ChecksumCRC32C) != refSum("CRC32C", p2) {
		t.Fatalf("part 2 of a full-object CRC32C: %v %q, want %q", err, aws.ToString(hout.ChecksumCRC32C), refSum("CRC32C", p2))
	}
}
