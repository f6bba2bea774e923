package s3_test

import (
	"bytes"
	"net/http"
	"sort"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func tagSet(kv ...string) []types.Tag {
	var out []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, types.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return out
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func sameTags(t *testing.T, got []types.Tag, want map[string]string) {
	t.Helper()
	m := tagMap(got)
	if len(m) != len(want) {
		t.Fatalf("tags %v, want %v", m, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Fatalf("tags %v, want %v", m, want)
		}
	}
	keys := make([]string, 0, len(got))
	for _, tg := range got {
		keys = append(keys, aws.ToString(tg.Key))
	}
	if !sort.StringsAreSorted(keys) {
		t.Fatalf("tags not in key order: %v", keys)
	}
}

func TestObjectTagging(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "tags")
	ctx := ctxT(t)
	e.put(t, "tags", "k", []byte("data"))

	got, err := e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	if err != nil || len(got.TagSet) != 0 || got.VersionId != nil {
		t.Fatalf("untagged: %+v %v", got, err)
	}
	_, err = e.client.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{
		Bucket: aws.String("tags"), Key: aws.String("k"),
		Tagging: &types.Tagging{TagSet: tagSet("project", "anvil", "team", "storage x")},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err = e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	sameTags(t, got.TagSet, map[string]string{"project": "anvil", "team": "storage x"})
	head, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("tags"), Key: aws.String("k")})
	if err != nil || aws.ToInt32(head.TagCount) != 2 {
		t.Fatalf("head tag count %v, %v", head.TagCount, err)
	}
	_, obj, err := e.get(t, "tags", "k", "")
	if err != nil || aws.ToInt32(obj.TagCount) != 2 {
		t.Fatalf("get tag count %v, %v", obj.TagCount, err)
	}

	t.Run("replace", func(t *testing.T) {
		_, err := e.client.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{
			Bucket: aws.String("tags"), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: tagSet("only", "one")},
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		sameTags(t, got.TagSet, map[string]string{"only": "one"})
	})
	t.Run("invalid", func(t *testing.T) {
		tests := []struct {
			name   string
			tags   []types.Tag
			code   string
			status int
		}{
			{"eleven", tagSet("a", "1", "b", "2", "c", "3", "d", "4", "e", "5", "f", "6", "g", "7", "h", "8", "i", "9", "j", "10", "k", "11"), "BadRequest", 400},
			{"duplicate", tagSet("a", "1", "a", "2"), "InvalidTag", 400},
			{"aws prefix", tagSet("aws:x", "1"), "InvalidTag", 400},
			{"empty key", tagSet("", "1"), "InvalidTag", 400},
			{"bad character", tagSet("a", "{}"), "InvalidTag", 400},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.client.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{
					Bucket: aws.String("tags"), Key: aws.String("k"), Tagging: &types.Tagging{TagSet: tt.tags},
				})
				wantAPIError(t, err, tt.code, tt.status)
			})
		}
		resp, body := do(t, e.signedRequest(t, "PUT", "/tags/k?tagging", []byte("<Tagging><TagSet><Tag>"), nil, ""))
		checkXMLError(t, resp, body, 400, "MalformedXML")
		got, err := e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
		if err != nil {
			t.Fatal(err)
		}
		sameTags(t, got.TagSet, map[string]string{"only": "one"})
	})
	t.Run("delete", func(t *testing.T) {
		if _, err := e.client.DeleteObjectTagging(ctx, &awss3.DeleteObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")}); err != nil {
			t.Fatal(err)
		}
		got, err := e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("k")})
		if err != nil || len(got.TagSet) != 0 {
			t.Fatalf("after delete: %+v %v", got, err)
		}
		head, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("tags"), Key: aws.String("k")})
		if err != nil || head.TagCount != nil {
			t.Fatalf("head tag count after delete %v, %v", head.TagCount, err)
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("tags"), Key: aws.String("nope")})
		wantAPIError(t, err, "NoSuchKey", 404)
		_, err = e.client.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{
			Bucket: aws.String("tags"), Key: aws.String("nope"), Tagging: &types.Tagging{TagSet: tagSet("a", "b")},
		})
		wantAPIError(t, err, "NoSuchKey", 404)
		_, err = e.client.DeleteObjectTagging(ctx, &awss3.DeleteObjectTaggingInput{Bucket: aws.String("nobucket"), Key: aws.String("k")})
		wantAPIError(t, err, "NoSuchBucket", 404)
	})
}

func TestObjectTaggingVersions(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "vtags")
	e.setVersioning(t, "vtags", types.BucketVersioningStatusEnabled)
	ctx := ctxT(t)
	v1 := aws.ToString(e.put(t, "vtags", "k", []byte("1")).VersionId)
	v2 := aws.ToString(e.put(t, "vtags", "k", []byte("2")).VersionId)
	out, err := e.client.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{
		Bucket: aws.String("vtags"), Key: aws.String("k"), VersionId: aws.String(v1),
		Tagging: &types.Tagging{TagSet: tagSet("old", "yes")},
	})
	if err != nil || aws.ToString(out.VersionId) != v1 {
		t.Fatalf("tag old version: %+v %v", out, err)
	}
	cur, err := e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("vtags"), Key: aws.String("k")})
	if err != nil || len(cur.TagSet) != 0 || aws.ToString(cur.VersionId) != v2 {
		t.Fatalf("current version tags: %+v %v", cur, err)
	}
	old, err := e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("vtags"), Key: aws.String("k"), VersionId: aws.String(v1)})
	if err != nil || aws.ToString(old.VersionId) != v1 {
		t.Fatalf("old version tags: %+v %v", old, err)
	}
	sameTags(t, old.TagSet, map[string]string{"old": "yes"})
	_, err = e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("vtags"), Key: aws.String("k"), VersionId: aws.String(missingVersion)})
	wantAPIError(t, err, "NoSuchVersion", 404)
	_, err = e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("vtags"), Key: aws.String("k"), VersionId: aws.String("nope")})
	wantAPIError(t, err, "InvalidArgument", 400)

	// A key hidden by a delete marker has no current version to tag.
	if _, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("vtags"), Key: aws.String("k")}); err != nil {
		t.Fatal(err)
	}
	body := []byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`)
	resp, rb := do(t, e.signedRequest(t, "PUT", "/vtags/k?tagging", body, nil, ""))
	checkXMLError(t, resp, rb, 404, "NoSuchKey")
	if resp.Header.Get("x-amz-delete-marker") != "true" || resp.Header.Get("x-amz-version-id") == "" {
		t.Fatalf("headers %v", resp.Header)
	}
	// Older versions can still be tagged by id.
	if _, err := e.client.PutObjectTagging(ctx, &awss3.PutObjectTaggingInput{
		Bucket: aws.String("vtags"), Key: aws.String("k"), VersionId: aws.String(v2),
		Tagging: &types.Tagging{TagSet: tagSet("after", "delete")},
	}); err != nil {
		t.Fatal(err)
	}
}

func TestPutObjectTaggingHeader(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "htags")
	ctx := ctxT(t)
	_, err := e.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String("htags"), Key: aws.String("k"), Body: bytes.NewReader([]byte("x")),
		Tagging: aws.String("a=1&b=two%20words"),
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.client.GetObjectTagging(ctx, &awss3.GetObjectTaggingInput{Bucket: aws.String("htags"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	sameTags(t, got.TagSet, map[string]string{"a": "1", "b": "two words"})
	for _, bad := range []string{"a=1&a=2", "=", "=v", "key%"} {
		_, err = e.client.PutObject(ctx, &awss3.PutObjectInput{
			Bucket: aws.String("htags"), Key: aws.String("bad"), Body: bytes.NewReader([]byte("x")),
			Tagging: aws.String(bad),
		})
		wantAPIError(t, err, "InvalidArgument", 400)
	}
	if e.meta.Object("htags", "bad") != nil {
		t.Fatal("object stored despite invalid tags")
	}
}

func TestBucketTagging(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "btags")
	ctx := ctxT(t)
	_, err := e.client.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: aws.String("btags")})
	wantAPIError(t, err, "NoSuchTagSet", 404)

	many := []string{}
	for i := 0; i < 50; i++ {
		many = append(many, "k"+string(rune('A'+i%26))+string(rune('a'+i/26)), "v")
	}
	_, err = e.client.PutBucketTagging(ctx, &awss3.PutBucketTaggingInput{Bucket: aws.String("btags"), Tagging: &types.Tagging{TagSet: tagSet(many...)}})
	if err != nil {
		t.Fatalf("50 bucket tags: %v", err)
	}
	_, err = e.client.PutBucketTagging(ctx, &awss3.PutBucketTaggingInput{Bucket: aws.String("btags"), Tagging: &types.Tagging{TagSet: tagSet("cost-center", "42", "env", "prod")}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := e.client.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: aws.String("btags")})
	if err != nil {
		t.Fatal(err)
	}
	sameTags(t, got.TagSet, map[string]string{"cost-center": "42", "env": "prod"})

	_, err = e.client.PutBucketTagging(ctx, &awss3.PutBucketTaggingInput{Bucket: aws.String("btags"), Tagging: &types.Tagging{TagSet: tagSet(append(many, "one", "more")...)}})
	wantAPIError(t, err, "BadRequest", 400)
	_, err = e.client.PutBucketTagging(ctx, &awss3.PutBucketTaggingInput{Bucket: aws.String("btags"), Tagging: &types.Tagging{TagSet: tagSet("a", "1", "a", "2")}})
	wantAPIError(t, err, "InvalidTag", 400)
	got, err = e.client.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: aws.String("btags")})
	if err != nil {
		t.Fatal(err)
	}
	sameTags(t, got.TagSet, map[string]string{"cost-center": "42", "env": "prod"})

	if _, err := e.client.DeleteBucketTagging(ctx, &awss3.DeleteBucketTaggingInput{Bucket: aws.String("btags")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: aws.String("btags")})
	wantAPIError(t, err, "NoSuchTagSet", 404)
	// Deleting again is fine, as in S3.
	if _, err := e.client.DeleteBucketTagging(ctx, &awss3.DeleteBucketTaggingInput{Bucket: aws.String("btags")}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: aws.String("nobucket")})
	wantAPIError(t, err, "NoSuchBucket", 404)

	t.Run("content-md5 checked", func(t *testing.T) {
		body := []byte(`<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>`)
		resp, rb := do(t, e.signedRequest(t, "PUT", "/btags?tagging", body, http.Header{"Content-Md5": {"1B2M2Y8AsgTpgAmY7PhCfg=="}}, ""))
		checkXMLError(t, resp, rb, 400, "BadDigest")
		resp, rb = do(t, e.signedRequest(t, "PUT", "/btags?tagging", body, http.Header{"X-Amz-Checksum-Crc32": {"AAAAAA=="}}, ""))
		checkXMLError(t, resp, rb, 400, "BadDigest")
	})
}

// CreateBucketConfiguration's Tags are validated as PutBucketTagging's and
// become the bucket's tags; a refused set creates no bucket.
func TestCreateBucketWithTags(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	create := func(name string, tags []types.Tag) error {
		_, err := e.client.CreateBucket(ctx, &awss3.CreateBucketInput{
			Bucket:                    aws.String(name),
			CreateBucketConfiguration: &types.CreateBucketConfiguration{Tags: tags},
		})
		return err
	}
	many := []string{}
	for i := 0; i < 51; i++ {
		many = append(many, "k"+string(rune('A'+i%26))+string(rune('a'+i/26)), "v")
	}
	for _, c := range []struct {
		tags []types.Tag
		code string
	}{
		{tagSet("user!name", "v"), "InvalidTag"},
		{tagSet("ok", "comma,separated"), "InvalidTag"},
		{tagSet("a", "1", "a", "2"), "InvalidTag"},
		{tagSet(many...), "BadRequest"},
	} {
		wantAPIError(t, create("refused", c.tags), c.code, 400)
	}
	_, err := e.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("refused")})
	if httpStatus(err) != 404 {
		t.Fatalf("a refused tag set left a bucket: %v", err)
	}
	if err := create("tagged", tagSet("team", "storage", "env", "prod")); err != nil {
		t.Fatal(err)
	}
	got, err := e.client.GetBucketTagging(ctx, &awss3.GetBucketTaggingInput{Bucket: aws.String("tagged")})
	if err != nil {
		t.Fatal(err)
	}
	sameTags(t, got.TagSet, map[string]string{"team": "storage", "env": "prod"})
}
