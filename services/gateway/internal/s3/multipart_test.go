package s3

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
)

func TestParseCompleteBody(t *testing.T) {
	const ns = ` xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`
	part := func(n, etag string) string {
		return "<Part><PartNumber>" + n + "</PartNumber><ETag>" + etag + "</ETag></Part>"
	}
	tests := []struct {
		name  string
		body  string
		nums  []int32
		etags []string
		code  string
	}{
		{"two parts", "<CompleteMultipartUpload" + ns + ">" + part("1", `"a"`) + part("3", "&quot;b&quot;") + "</CompleteMultipartUpload>", []int32{1, 3}, []string{"a", "b"}, ""},
		{"no namespace", "<CompleteMultipartUpload>" + part(" 2 ", "c") + "</CompleteMultipartUpload>", []int32{2}, []string{"c"}, ""},
		{"empty", "", nil, nil, ErrMalformedXML},
		{"no parts", "<CompleteMultipartUpload/>", nil, nil, ErrMalformedXML},
		{"wrong root", "<Complete>" + part("1", "a") + "</Complete>", nil, nil, ErrMalformedXML},
		{"truncated", "<CompleteMultipartUpload><Part>", nil, nil, ErrMalformedXML},
		{"bad number", "<CompleteMultipartUpload>" + part("one", "a") + "</CompleteMultipartUpload>", nil, nil, ErrMalformedXML},
		{"zero", "<CompleteMultipartUpload>" + part("0", "a") + "</CompleteMultipartUpload>", nil, nil, ErrInvalidArgument},
		{"too big", "<CompleteMultipartUpload>" + part("10001", "a") + "</CompleteMultipartUpload>", nil, nil, ErrInvalidArgument},
		{"descending", "<CompleteMultipartUpload>" + part("2", "a") + part("1", "b") + "</CompleteMultipartUpload>", nil, nil, ErrInvalidPartOrder},
		{"repeated", "<CompleteMultipartUpload>" + part("2", "a") + part("2", "a") + "</CompleteMultipartUpload>", nil, nil, ErrInvalidPartOrder},
		{"two checksums", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>a</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32><ChecksumCRC32C>AAAAAA==</ChecksumCRC32C></Part></CompleteMultipartUpload>", nil, nil, ErrInvalidArgument},
		{"bad checksum", "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>a</ETag><ChecksumSHA1>AAAAAA==</ChecksumSHA1></Part></CompleteMultipartUpload>", nil, nil, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parts, nums, e := parseCompleteBody([]byte(tt.body))
			if tt.code != "" {
				if e == nil || e.Code != tt.code {
					t.Fatalf("error %v, want %s", e, tt.code)
				}
				return
			}
			if e != nil || len(nums) != len(tt.nums) {
				t.Fatalf("got %v %v", nums, e)
			}
			for i := range nums {
				if nums[i] != tt.nums[i] || parts[i].ETag != tt.etags[i] {
					t.Fatalf("part %d: %d %q", i, nums[i], parts[i].ETag)
				}
			}
		})
	}
}

func TestCreateChecksum(t *testing.T) {
	tests := []struct {
		algo, typ         string
		wantAlgo, wantTyp string
		bad               bool
	}{
		{"", "", "", "", false},
		{"crc32", "", algoCRC32, checksumTypeComposite, false},
		{"CRC32", "FULL_OBJECT", algoCRC32, checksumTypeFullObject, false},
		{"CRC64NVME", "", algoCRC64NVME, checksumTypeFullObject, false},
		{"SHA256", "COMPOSITE", algoSHA256, checksumTypeComposite, false},
		{"SHA256", "FULL_OBJECT", "", "", true},
		{"CRC64NVME", "COMPOSITE", "", "", true},
		{"", "COMPOSITE", "", "", true},
		{"MD4", "", "", "", true},
		{"md5", "", algoMD5, checksumTypeComposite, false},
		{"XXHASH128", "FULL_OBJECT", "", "", true},
		{"CRC32", "PARTIAL", "", "", true},
	}
	for _, tt := range tests {
		hdr := http.Header{}
		hdr.Set("x-amz-checksum-algorithm", tt.algo)
		hdr.Set("x-amz-checksum-type", tt.typ)
		algo, typ, e := createChecksum(hdr)
		if tt.bad != (e != nil) || algo != tt.wantAlgo || typ != tt.wantTyp {
			t.Errorf("%q/%q: %q %q %v", tt.algo, tt.typ, algo, typ, e)
		}
	}
}

func TestPartChecksums(t *testing.T) {
	def := &metadatav1.MultipartUpload{}
	crcFull := &metadatav1.MultipartUpload{ChecksumAlgorithm: algoCRC32, ChecksumType: checksumTypeFullObject}
	shaComp := &metadatav1.MultipartUpload{ChecksumAlgorithm: algoSHA1, ChecksumType: checksumTypeComposite}
	tests := []struct {
		name    string
		u       *metadatav1.MultipartUpload
		named   string
		compute []string
		show    string
		bad     bool
	}{
		{"default, nothing named", def, "", []string{algoCRC64NVME, ""}, "", false},
		{"default, client CRC32", def, algoCRC32, []string{algoCRC64NVME, algoCRC32}, algoCRC32, false},
		{"full object computes unnamed", crcFull, "", []string{algoCRC32}, algoCRC32, false},
		{"full object named", crcFull, algoCRC32, []string{algoCRC32}, algoCRC32, false},
		{"mismatch", crcFull, algoSHA1, nil, "", true},
		{"composite needs the part checksum", shaComp, "", nil, "", true},
		{"composite named", shaComp, algoSHA1, []string{algoSHA1}, algoSHA1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compute, show, e := partChecksums(tt.u, tt.named)
			if tt.bad != (e != nil) || show != tt.show || strings.Join(compute, ",") != strings.Join(tt.compute, ",") {
				t.Fatalf("got %v %q %v", compute, show, e)
			}
		})
	}
}

func TestCheckListedChecksum(t *testing.T) {
	seg := &metadatav1.Segment{Checksums: map[string]string{algoSHA256: "stored"}}
	listed := func(sums map[string]string) completedPartIn {
		var p completedPartIn
		p.ChecksumSHA256, p.ChecksumCRC32 = sums[algoSHA256], sums[algoCRC32]
		return p
	}
	tests := []struct {
		name      string
		lp        completedPartIn
		algo, typ string
		code      string
	}{
		{"matches", listed(map[string]string{algoSHA256: "stored"}), algoSHA256, checksumTypeComposite, ""},
		{"differs", listed(map[string]string{algoSHA256: "other"}), algoSHA256, checksumTypeComposite, ErrInvalidPart},
		{"other algorithm", listed(map[string]string{algoCRC32: "x"}), algoSHA256, checksumTypeComposite, ErrBadDigest},
		{"missing for composite", listed(nil), algoSHA256, checksumTypeComposite, ErrInvalidRequest},
		{"missing for full object", listed(nil), algoCRC32, checksumTypeFullObject, ""},
		{"default upload ignores unknown", listed(map[string]string{algoCRC32: "x"}), "", "", ""},
		{"default upload checks stored", listed(map[string]string{algoSHA256: "other"}), "", "", ErrInvalidPart},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := checkListedChecksum(tt.lp, 1, seg, tt.algo, tt.typ)
			if (e == nil) != (tt.code == "") || (e != nil && e.Code != tt.code) {
				t.Fatalf("got %v, want %q", e, tt.code)
			}
		})
	}
}

func TestDataRoutes(t *testing.T) {
	// Multipart subresources are never mistaken for plain object writes.
	for _, target := range []string{"/b/k?uploads", "/b/k?uploadId=1", "/b/k?partNumber=1&uploadId=1"} {
		for _, m := range []string{"GET", "PUT", "POST", "DELETE", "HEAD"} {
			r := httptest.NewRequest(m, "http://localhost"+target, nil)
			op, _ := dataObjectOp(r, r.URL.Query())
			if op == OpPutObject || op == OpDeleteObject {
				t.Errorf("%s %s routed to %s", m, target, op)
			}
		}
	}
}

func FuzzParseCompleteBody(f *testing.F) {
	f.Add([]byte("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>\"a\"</ETag></Part></CompleteMultipartUpload>"))
	f.Add([]byte("<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>"))
	f.Add([]byte("<x"))
	f.Fuzz(func(t *testing.T, body []byte) {
		parts, nums, e := parseCompleteBody(body)
		if e != nil {
			if e.HTTPStatus != http.StatusBadRequest {
				t.Fatalf("status %d", e.HTTPStatus)
			}
			return
		}
		if len(parts) == 0 || len(parts) != len(nums) {
			t.Fatalf("%d parts, %d numbers", len(parts), len(nums))
		}
		for i := range nums {
			if nums[i] < 1 || nums[i] > maxPartNumber || (i > 0 && nums[i] <= nums[i-1]) {
				t.Fatalf("accepted part numbers %v", nums)
			}
		}
	})
}
