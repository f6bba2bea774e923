package s3_test

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// listedV2 is the part of a ListObjectsV2 result the metadata tests read,
// with UserMetadata decoded the way minio-go does: any element, named by its
// header.
type listedV2 struct {
	Contents []struct {
		Key          string
		UserMetadata *struct {
			Entries []struct {
				XMLName xml.Name
				Value   string `xml:",chardata"`
			} `xml:",any"`
		}
	}
}

func (e *testEnv) listV2Raw(t *testing.T, target string) listedV2 {
	t.Helper()
	resp, body := do(t, e.signedRequest(t, http.MethodGet, target, nil, nil, ""))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, resp.StatusCode, body)
	}
	var out listedV2
	if err := xml.Unmarshal(body, &out); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return out
}

// TestListObjectsV2WithMetadata covers MinIO's metadata=true extension: each
// listed object carries its user metadata, and only when asked.
func TestListObjectsV2WithMetadata(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "listmeta")
	ctx := ctxT(t)
	_, err := e.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String("listmeta"), Key: aws.String("a"), Body: bytes.NewReader([]byte("x")),
		Metadata: map[string]string{"Marker": "unsorted", "other": "<&>"},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, "listmeta", "b", []byte("y"))

	got := e.listV2Raw(t, "/listmeta?list-type=2&metadata=true")
	if len(got.Contents) != 2 || got.Contents[0].UserMetadata == nil || got.Contents[1].UserMetadata == nil {
		t.Fatalf("listing with metadata: %+v", got)
	}
	md := map[string]string{}
	for _, en := range got.Contents[0].UserMetadata.Entries {
		md[en.XMLName.Local] = en.Value
	}
	if len(md) != 2 || md["X-Amz-Meta-Marker"] != "unsorted" || md["X-Amz-Meta-Other"] != "<&>" {
		t.Fatalf("user metadata of a: %v", md)
	}
	if n := len(got.Contents[1].UserMetadata.Entries); n != 0 {
		t.Fatalf("b has no metadata, listed %d entries", n)
	}

	for _, target := range []string{"/listmeta?list-type=2", "/listmeta?list-type=2&metadata=false"} {
		plain := e.listV2Raw(t, target)
		if len(plain.Contents) != 2 || plain.Contents[0].UserMetadata != nil {
			t.Fatalf("%s carried metadata: %+v", target, plain)
		}
	}
}
