package s3_test

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// missingVersion is a well-formed version id that names no version.
const missingVersion = "3f1e8a52-0c5e-4d7e-9b7a-000000000000"

func (e *testEnv) setVersioning(t *testing.T, bucket string, status types.BucketVersioningStatus) {
	t.Helper()
	_, err := e.client.PutBucketVersioning(ctxT(t), &awss3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: status},
	})
	if err != nil {
		t.Fatalf("put bucket versioning %s: %v", status, err)
	}
}

func (e *testEnv) getVersion(t *testing.T, bucket, key, versionID string) ([]byte, *awss3.GetObjectOutput, error) {
	t.Helper()
	in := &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	out, err := e.client.GetObject(ctxT(t), in)
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, out, err
}

func TestBucketVersioningConfig(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "vcfg")
	ctx := ctxT(t)
	status := func() types.BucketVersioningStatus {
		t.Helper()
		out, err := e.client.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: aws.String("vcfg")})
		if err != nil {
			t.Fatal(err)
		}
		return out.Status
	}
	if s := status(); s != "" {
		t.Fatalf("new bucket status %q, want none", s)
	}
	e.setVersioning(t, "vcfg", types.BucketVersioningStatusEnabled)
	if s := status(); s != types.BucketVersioningStatusEnabled {
		t.Fatalf("status %q after enable", s)
	}
	e.setVersioning(t, "vcfg", types.BucketVersioningStatusSuspended)
	if s := status(); s != types.BucketVersioningStatusSuspended {
		t.Fatalf("status %q after suspend", s)
	}

	t.Run("raw bodies", func(t *testing.T) {
		tests := []struct {
			name   string
			body   string
			status int
			code   string
		}{
			{"malformed", "<VersioningConfiguration><Status>Enabled", 400, "MalformedXML"},
			{"bad status", "<VersioningConfiguration><Status>On</Status></VersioningConfiguration>", 400, "MalformedXML"},
			{"wrong root", "<Versioning><Status>Enabled</Status></Versioning>", 400, "MalformedXML"},
			{"mfa delete", "<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Enabled</MfaDelete></VersioningConfiguration>", 501, "NotImplemented"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := do(t, e.signedRequest(t, "PUT", "/vcfg?versioning", []byte(tt.body), nil, ""))
				checkXMLError(t, resp, body, tt.status, tt.code)
			})
		}
		if s := status(); s != types.BucketVersioningStatusSuspended {
			t.Fatalf("a refused request changed the status to %q", s)
		}
		resp, body := do(t, e.signedRequest(t, "PUT", "/vcfg?versioning", []byte("<VersioningConfiguration/>"), nil, ""))
		if resp.StatusCode != 200 {
			t.Fatalf("empty configuration: %d %s", resp.StatusCode, body)
		}
		resp, body = do(t, e.signedRequest(t, "GET", "/vcfg?versioning", nil, nil, ""))
		if resp.StatusCode != 200 || !strings.Contains(string(body), `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Suspended</Status></VersioningConfiguration>`) {
			t.Fatalf("get versioning: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("missing bucket", func(t *testing.T) {
		_, err := e.client.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: aws.String("nope")})
		wantAPIError(t, err, "NoSuchBucket", 404)
		_, err = e.client.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{
			Bucket:                  aws.String("nope"),
			VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
		})
		wantAPIError(t, err, "NoSuchBucket", 404)
	})
}

func TestVersionedObjects(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "ver")
	ctx := ctxT(t)

	// Never versioned: no version ids anywhere.
	out := e.put(t, "ver", "k", []byte("v0"))
	if out.VersionId != nil {
		t.Fatalf("unversioned put shows version id %q", *out.VersionId)
	}
	_, got, err := e.getVersion(t, "ver", "k", "")
	if err != nil || got.VersionId != nil {
		t.Fatalf("unversioned get: %v, version id %v", err, got.VersionId)
	}
	// versionId=null addresses the only version of an unversioned key.
	if b, _, err := e.getVersion(t, "ver", "k", "null"); err != nil || string(b) != "v0" {
		t.Fatalf("get ?versionId=null: %q %v", b, err)
	}

	e.setVersioning(t, "ver", types.BucketVersioningStatusEnabled)
	data := map[string][]byte{}
	var ids []string
	for i := 1; i <= 3; i++ {
		body := []byte(fmt.Sprintf("version %d", i))
		out := e.put(t, "ver", "k", body)
		if out.VersionId == nil || *out.VersionId == "" || *out.VersionId == "null" {
			t.Fatalf("put %d: version id %v", i, out.VersionId)
		}
		data[*out.VersionId] = body
		ids = append(ids, *out.VersionId)
	}
	b, got, err := e.getVersion(t, "ver", "k", "")
	if err != nil || string(b) != "version 3" || aws.ToString(got.VersionId) != ids[2] {
		t.Fatalf("current: %q %v %v", b, got, err)
	}
	for id, want := range data {
		b, got, err := e.getVersion(t, "ver", "k", id)
		if err != nil || !bytes.Equal(b, want) || aws.ToString(got.VersionId) != id {
			t.Fatalf("get version %s: %q, %v", id, b, err)
		}
		head, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(id)})
		if err != nil || aws.ToString(head.VersionId) != id || aws.ToInt64(head.ContentLength) != int64(len(want)) {
			t.Fatalf("head version %s: %v", id, err)
		}
	}
	_, _, err = e.getVersion(t, "ver", "k", missingVersion)
	wantAPIError(t, err, "NoSuchVersion", 404)
	// An id that cannot be a version id at all is a bad argument, as in S3.
	_, _, err = e.getVersion(t, "ver", "k", "no-such-version")
	wantAPIError(t, err, "InvalidArgument", 400)
	_, err = e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String("bogus")})
	wantAPIError(t, err, "InvalidArgument", 400)

	// Delete without a version id adds a delete marker.
	del, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k")})
	if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) == "" {
		t.Fatalf("delete: %+v %v", del, err)
	}
	marker := aws.ToString(del.VersionId)
	t.Run("current delete marker", func(t *testing.T) {
		resp, body := do(t, e.signedRequest(t, "GET", "/ver/k", nil, nil, ""))
		checkXMLError(t, resp, body, 404, "NoSuchKey")
		if resp.Header.Get("x-amz-delete-marker") != "true" || resp.Header.Get("x-amz-version-id") != marker {
			t.Fatalf("headers %v", resp.Header)
		}
		resp, _ = do(t, e.signedRequest(t, "HEAD", "/ver/k", nil, nil, ""))
		if resp.StatusCode != 404 || resp.Header.Get("x-amz-delete-marker") != "true" {
			t.Fatalf("head: %d %v", resp.StatusCode, resp.Header)
		}
		resp, body = do(t, e.signedRequest(t, "GET", "/ver/k?versionId="+marker, nil, nil, ""))
		checkXMLError(t, resp, body, 405, "MethodNotAllowed")
		if resp.Header.Get("x-amz-delete-marker") != "true" || resp.Header.Get("x-amz-version-id") != marker {
			t.Fatalf("headers %v", resp.Header)
		}
		// Older versions stay readable.
		if b, _, err := e.getVersion(t, "ver", "k", ids[0]); err != nil || string(b) != "version 1" {
			t.Fatalf("old version after delete: %q %v", b, err)
		}
		list, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("ver")})
		if err != nil || len(list.Contents) != 0 {
			t.Fatalf("listing shows a deleted key: %v %v", list, err)
		}
	})

	t.Run("delete versions permanently", func(t *testing.T) {
		// Removing the marker brings version 3 back.
		del, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(marker)})
		if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) != marker {
			t.Fatalf("delete marker: %+v %v", del, err)
		}
		if b, _, err := e.getVersion(t, "ver", "k", ""); err != nil || string(b) != "version 3" {
			t.Fatalf("after removing the marker: %q %v", b, err)
		}
		garbage := len(e.meta.Garbage())
		del, err = e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k"), VersionId: aws.String(ids[2])})
		if err != nil || aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) != ids[2] {
			t.Fatalf("delete version: %+v %v", del, err)
		}
		if len(e.meta.Garbage()) != garbage+1 {
			t.Fatal("a permanently deleted version's data was not collected")
		}
		if b, _, err := e.getVersion(t, "ver", "k", ""); err != nil || string(b) != "version 2" {
			t.Fatalf("after deleting the newest: %q %v", b, err)
		}
		_, _, err = e.getVersion(t, "ver", "k", ids[2])
		wantAPIError(t, err, "NoSuchVersion", 404)
		resp, body := do(t, e.signedRequest(t, "DELETE", "/ver/k?versionId=", nil, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidArgument")
	})

	t.Run("suspended", func(t *testing.T) {
		e.setVersioning(t, "ver", types.BucketVersioningStatusSuspended)
		// As on AWS, PutObject does not show the null version's id.
		out := e.put(t, "ver", "k", []byte("null 1"))
		if out.VersionId != nil {
			t.Fatalf("suspended put version %v", *out.VersionId)
		}
		out = e.put(t, "ver", "k", []byte("null 2"))
		if out.VersionId != nil {
			t.Fatalf("suspended put version %v", *out.VersionId)
		}
		b, got, err := e.getVersion(t, "ver", "k", "null")
		if err != nil || string(b) != "null 2" || aws.ToString(got.VersionId) != "null" {
			t.Fatalf("null version: %q %v", b, err)
		}
		// The null version replaced its predecessor; enabled versions stay.
		n := 0
		for _, v := range e.meta.Versions("ver", "k") {
			if v.GetVersionId() == "null" {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%d null versions", n)
		}
		if b, _, err := e.getVersion(t, "ver", "k", ids[0]); err != nil || string(b) != "version 1" {
			t.Fatalf("enabled-era version: %q %v", b, err)
		}
		del, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("k")})
		if err != nil || !aws.ToBool(del.DeleteMarker) || aws.ToString(del.VersionId) != "null" {
			t.Fatalf("suspended delete: %+v %v", del, err)
		}
	})
}

func TestListObjectVersions(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "lvs")
	ctx := ctxT(t)
	e.put(t, "lvs", "plain", []byte("p"))
	e.setVersioning(t, "lvs", types.BucketVersioningStatusEnabled)
	keys := []string{"a", "b/1", "b/2", "c"}
	want := map[string][]string{} // key -> version ids, newest first
	for round := 0; round < 3; round++ {
		for _, k := range keys {
			out := e.put(t, "lvs", k, []byte(k))
			want[k] = append([]string{aws.ToString(out.VersionId)}, want[k]...)
		}
	}
	del, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("lvs"), Key: aws.String("c")})
	if err != nil {
		t.Fatal(err)
	}
	want["c"] = append([]string{aws.ToString(del.VersionId)}, want["c"]...)

	type entry struct {
		key, id string
		latest  bool
		marker  bool
	}
	listAll := func(t *testing.T, maxKeys int32, delimiter string) ([]entry, []string, int) {
		t.Helper()
		var all []entry
		var prefixes []string
		pages := 0
		in := &awss3.ListObjectVersionsInput{Bucket: aws.String("lvs"), MaxKeys: aws.Int32(maxKeys)}
		if delimiter != "" {
			in.Delimiter = aws.String(delimiter)
		}
		for {
			out, err := e.client.ListObjectVersions(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			// Versions and markers arrive interleaved in the XML; the SDK
			// splits them, so merge back by key order then newest first.
			var page []entry
			for _, v := range out.Versions {
				page = append(page, entry{aws.ToString(v.Key), aws.ToString(v.VersionId), aws.ToBool(v.IsLatest), false})
			}
			for _, m := range out.DeleteMarkers {
				page = append(page, entry{aws.ToString(m.Key), aws.ToString(m.VersionId), aws.ToBool(m.IsLatest), true})
			}
			all = append(all, page...)
			for _, p := range out.CommonPrefixes {
				prefixes = append(prefixes, aws.ToString(p.Prefix))
			}
			if !aws.ToBool(out.IsTruncated) {
				break
			}
			if len(page)+len(out.CommonPrefixes) > int(maxKeys) {
				t.Fatalf("page of %d entries with max-keys %d", len(page)+len(out.CommonPrefixes), maxKeys)
			}
			in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
			if pages > 100 {
				t.Fatal("listing does not end")
			}
		}
		return all, prefixes, pages
	}
	check := func(t *testing.T, got []entry, keys []string) {
		t.Helper()
		byKey := map[string][]entry{}
		for _, g := range got {
			byKey[g.key] = append(byKey[g.key], g)
		}
		for _, k := range keys {
			ids := want[k]
			if len(byKey[k]) != len(ids) {
				t.Fatalf("key %s: %d versions listed, want %d (%v)", k, len(byKey[k]), len(ids), byKey[k])
			}
			// Within a key the listing is newest first; markers are split
			// out by the SDK, so compare as sets plus the latest flag.
			listed := map[string]entry{}
			for _, g := range byKey[k] {
				listed[g.id] = g
			}
			for i, id := range ids {
				g, ok := listed[id]
				if !ok || g.latest != (i == 0) {
					t.Fatalf("key %s version %s: listed %v, latest %v", k, id, ok, g.latest)
				}
			}
		}
		if cs := byKey["c"]; len(cs) > 0 {
			found := false
			for _, g := range cs {
				found = found || (g.id == want["c"][0] && g.marker && g.latest)
			}
			if !found {
				t.Fatalf("delete marker of c not listed as latest: %v", cs)
			}
		}
		if p, ok := byKey["plain"]; ok && len(p) != 1 {
			t.Fatalf("pre-versioning object listed as %v", p)
		}
	}
	for _, maxKeys := range []int32{1, 2, 5, 1000} {
		t.Run(fmt.Sprintf("max-keys %d", maxKeys), func(t *testing.T) {
			got, _, pages := listAll(t, maxKeys, "")
			if len(got) != 14 {
				t.Fatalf("%d entries, want 14", len(got))
			}
			if maxKeys == 1 && pages != 14 {
				t.Fatalf("%d pages with max-keys 1", pages)
			}
			check(t, got, keys)
		})
	}
	t.Run("delimiter", func(t *testing.T) {
		got, prefixes, _ := listAll(t, 2, "/")
		if strings.Join(prefixes, ",") != "b/" {
			t.Fatalf("prefixes %v", prefixes)
		}
		check(t, got, []string{"a", "c"})
	})
	t.Run("xml order", func(t *testing.T) {
		resp, body := do(t, e.signedRequest(t, "GET", "/lvs?versions&prefix=c", nil, nil, ""))
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		s := string(body)
		if i, j := strings.Index(s, "<DeleteMarker"), strings.Index(s, "<Version "); i < 0 || j < 0 || i > j {
			t.Fatalf("delete marker (newest) must come first: %s", s)
		}
		if !strings.Contains(s, "<KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker>") || !strings.Contains(s, "<StorageClass>STANDARD</StorageClass>") {
			t.Fatalf("document %s", s)
		}
	})
	t.Run("unversioned bucket shows null", func(t *testing.T) {
		e.createBucket(t, "lv-plain")
		e.put(t, "lv-plain", "x", []byte("x"))
		out, err := e.client.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("lv-plain")})
		if err != nil || len(out.Versions) != 1 || aws.ToString(out.Versions[0].VersionId) != "null" || !aws.ToBool(out.Versions[0].IsLatest) {
			t.Fatalf("%+v %v", out, err)
		}
	})
	t.Run("bad parameters", func(t *testing.T) {
		resp, body := do(t, e.signedRequest(t, "GET", "/lvs?versions&version-id-marker=x", nil, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidArgument")
		resp, body = do(t, e.signedRequest(t, "GET", "/lvs?versions&key-marker=a&version-id-marker=x", nil, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidArgument")
		resp, body = do(t, e.signedRequest(t, "GET", "/lvs?versions&max-keys=-1", nil, nil, ""))
		checkXMLError(t, resp, body, 400, "InvalidArgument")
		resp, body = do(t, e.signedRequest(t, "GET", "/nope?versions", nil, nil, ""))
		checkXMLError(t, resp, body, 404, "NoSuchBucket")
	})
	t.Run("max-keys 0", func(t *testing.T) {
		out, err := e.client.ListObjectVersions(ctx, &awss3.ListObjectVersionsInput{Bucket: aws.String("lvs"), MaxKeys: aws.Int32(0)})
		if err != nil || len(out.Versions) != 0 || aws.ToBool(out.IsTruncated) {
			t.Fatalf("%+v %v", out, err)
		}
	})
}

func TestVersionedBucketCannotBeDeletedWhileVersionsRemain(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "vdel")
	e.setVersioning(t, "vdel", types.BucketVersioningStatusEnabled)
	ctx := ctxT(t)
	out := e.put(t, "vdel", "k", []byte("x"))
	del, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("vdel"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("vdel")})
	wantAPIError(t, err, "BucketNotEmpty", 409)
	if got, want := apiMessage(err), "The bucket you tried to delete is not empty. You must delete all versions in the bucket."; got != want {
		t.Fatalf("message = %q, want %q", got, want)
	}
	ids := []string{aws.ToString(out.VersionId), aws.ToString(del.VersionId)}
	sort.Strings(ids)
	for _, id := range ids {
		if _, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("vdel"), Key: aws.String("k"), VersionId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: aws.String("vdel")}); err != nil {
		t.Fatalf("delete emptied bucket: %v", err)
	}
}
