package s3_test

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func objectIDs(keys ...string) []types.ObjectIdentifier {
	var out []types.ObjectIdentifier
	for _, k := range keys {
		out = append(out, types.ObjectIdentifier{Key: aws.String(k)})
	}
	return out
}

func contentMD5(b []byte) string {
	s := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(s[:])
}

func TestDeleteObjects(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "batch")
	ctx := ctxT(t)
	for i := 0; i < 5; i++ {
		e.put(t, "batch", fmt.Sprintf("k%d", i), []byte("x"))
	}
	long := strings.Repeat("l", 1025)
	out, err := e.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
		Bucket: aws.String("batch"),
		Delete: &types.Delete{Objects: objectIDs("k0", "k1", "missing", long)},
	})
	if err != nil {
		t.Fatal(err)
	}
	deleted := map[string]bool{}
	for _, d := range out.Deleted {
		deleted[aws.ToString(d.Key)] = true
		if d.DeleteMarker != nil || d.VersionId != nil {
			t.Fatalf("unversioned delete reports %+v", d)
		}
	}
	if len(deleted) != 3 || !deleted["k0"] || !deleted["k1"] || !deleted["missing"] {
		t.Fatalf("deleted %v", deleted)
	}
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != long || aws.ToString(out.Errors[0].Code) != "KeyTooLongError" {
		t.Fatalf("errors %+v", out.Errors)
	}
	if e.meta.Object("batch", "k0") != nil || e.meta.Object("batch", "k1") != nil || e.meta.Object("batch", "k2") == nil {
		t.Fatal("wrong keys deleted")
	}

	t.Run("quiet", func(t *testing.T) {
		out, err := e.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
			Bucket: aws.String("batch"),
			Delete: &types.Delete{Objects: objectIDs("k2", "k3"), Quiet: aws.Bool(true)},
		})
		if err != nil || len(out.Deleted) != 0 || len(out.Errors) != 0 {
			t.Fatalf("quiet: %+v %v", out, err)
		}
		if e.meta.Object("batch", "k2") != nil {
			t.Fatal("quiet delete did not delete")
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		body := func(n int) []byte {
			var b strings.Builder
			b.WriteString("<Delete>")
			for i := 0; i < n; i++ {
				fmt.Fprintf(&b, "<Object><Key>k%d</Key></Object>", i)
			}
			b.WriteString("</Delete>")
			return []byte(b.String())
		}
		ok := body(1)
		tests := []struct {
			name   string
			body   []byte
			hdr    http.Header
			status int
			code   string
		}{
			{"no digest", ok, nil, 400, "InvalidRequest"},
			{"wrong md5", ok, http.Header{"Content-Md5": {contentMD5([]byte("other"))}}, 400, "BadDigest"},
			{"invalid md5", ok, http.Header{"Content-Md5": {"nope"}}, 400, "InvalidDigest"},
			{"wrong crc32", ok, http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}, 400, "BadDigest"},
			{"1001 keys", body(1001), http.Header{"Content-Md5": {contentMD5(body(1001))}}, 400, "MalformedXML"},
			{"no keys", body(0), http.Header{"Content-Md5": {contentMD5(body(0))}}, 400, "MalformedXML"},
			{"malformed", []byte("<Delete><Object>"), http.Header{"Content-Md5": {contentMD5([]byte("<Delete><Object>"))}}, 400, "MalformedXML"},
			{"object without key", []byte("<Delete><Object></Object></Delete>"), http.Header{"Content-Md5": {contentMD5([]byte("<Delete><Object></Object></Delete>"))}}, 400, "MalformedXML"},
			{"bad quiet", []byte("<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>"), http.Header{"Content-Md5": {contentMD5([]byte("<Delete><Quiet>maybe</Quiet><Object><Key>a</Key></Object></Delete>"))}}, 400, "MalformedXML"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, rb := do(t, e.signedRequest(t, "POST", "/batch?delete", tt.body, tt.hdr, ""))
				checkXMLError(t, resp, rb, tt.status, tt.code)
			})
		}
		if e.meta.Object("batch", "k4") == nil {
			t.Fatal("a refused batch deleted something")
		}
		resp, rb := do(t, e.signedRequest(t, "POST", "/nobucket?delete", ok, http.Header{"Content-Md5": {contentMD5(ok)}}, ""))
		checkXMLError(t, resp, rb, 404, "NoSuchBucket")
		// 1,000 keys is the limit, not over it.
		resp, rb = do(t, e.signedRequest(t, "POST", "/batch?delete", body(1000), http.Header{"Content-Md5": {contentMD5(body(1000))}}, ""))
		if resp.StatusCode != 200 {
			t.Fatalf("1000 keys: %d %s", resp.StatusCode, rb)
		}
		var res struct {
			Deleted []struct{ Key string }
		}
		if err := xml.Unmarshal(rb, &res); err != nil || len(res.Deleted) != 1000 {
			t.Fatalf("1000 keys: %d deleted, %v", len(res.Deleted), err)
		}
		for i, d := range res.Deleted {
			if d.Key != fmt.Sprintf("k%d", i) {
				t.Fatalf("results out of request order at %d: %s", i, d.Key)
			}
		}
	})
}

func TestDeleteObjectsVersioned(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "vbatch")
	e.setVersioning(t, "vbatch", types.BucketVersioningStatusEnabled)
	ctx := ctxT(t)
	v1 := aws.ToString(e.put(t, "vbatch", "a", []byte("1")).VersionId)
	e.put(t, "vbatch", "a", []byte("2"))
	e.put(t, "vbatch", "b", []byte("b"))

	out, err := e.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
		Bucket: aws.String("vbatch"),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("a"), VersionId: aws.String(v1)},
			{Key: aws.String("b")},
			{Key: aws.String("a"), VersionId: aws.String("not-a-version")},
		}},
	})
	if err != nil || len(out.Deleted) != 2 || len(out.Errors) != 1 {
		t.Fatalf("%+v %v", out, err)
	}
	if e := out.Errors[0]; aws.ToString(e.Key) != "a" || aws.ToString(e.VersionId) != "not-a-version" || aws.ToString(e.Code) != "InvalidArgument" {
		t.Fatalf("per-key error %+v", e)
	}
	byKey := map[string]types.DeletedObject{}
	for _, d := range out.Deleted {
		byKey[aws.ToString(d.Key)] = d
	}
	// A version named by id says it was not a delete marker.
	if d := byKey["a"]; aws.ToString(d.VersionId) != v1 || d.DeleteMarker == nil || *d.DeleteMarker {
		t.Fatalf("version delete: %+v", d)
	}
	marker := byKey["b"]
	if !aws.ToBool(marker.DeleteMarker) || aws.ToString(marker.DeleteMarkerVersionId) == "" || marker.VersionId != nil {
		t.Fatalf("marker delete: %+v", marker)
	}
	_, _, err = e.getVersion(t, "vbatch", "a", v1)
	wantAPIError(t, err, "NoSuchVersion", 404)
	if b, _, err := e.getVersion(t, "vbatch", "a", ""); err != nil || string(b) != "2" {
		t.Fatalf("a: %q %v", b, err)
	}
	_, _, err = e.getVersion(t, "vbatch", "b", "")
	wantAPIError(t, err, "NoSuchKey", 404)

	// Deleting the marker by id reports it as a delete marker.
	out, err = e.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
		Bucket: aws.String("vbatch"),
		Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("b"), VersionId: marker.DeleteMarkerVersionId}}},
	})
	if err != nil || len(out.Deleted) != 1 {
		t.Fatalf("%+v %v", out, err)
	}
	d := out.Deleted[0]
	if !aws.ToBool(d.DeleteMarker) || aws.ToString(d.DeleteMarkerVersionId) != aws.ToString(marker.DeleteMarkerVersionId) || aws.ToString(d.VersionId) != aws.ToString(marker.DeleteMarkerVersionId) {
		t.Fatalf("marker removal: %+v", d)
	}
	if b, _, err := e.getVersion(t, "vbatch", "b", ""); err != nil || string(b) != "b" {
		t.Fatalf("b after removing its marker: %q %v", b, err)
	}
}
