package s3_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func (e *testEnv) createLockedBucket(t *testing.T, name string) {
	t.Helper()
	if _, err := e.client.CreateBucket(ctxT(t), &awss3.CreateBucketInput{
		Bucket: aws.String(name), ObjectLockEnabledForBucket: aws.Bool(true),
	}); err != nil {
		t.Fatalf("create locked bucket %s: %v", name, err)
	}
}

func TestObjectLockConfiguration(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	e.createLockedBucket(t, "locked")

	v, err := e.client.GetBucketVersioning(ctx, &awss3.GetBucketVersioningInput{Bucket: aws.String("locked")})
	if err != nil || v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("locked bucket versioning %q %v", v.Status, err)
	}
	_, err = e.client.PutBucketVersioning(ctx, &awss3.PutBucketVersioningInput{
		Bucket:                  aws.String("locked"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended},
	})
	wantAPIError(t, err, "InvalidBucketState", 409)

	got, err := e.client.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String("locked")})
	if err != nil || got.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled || got.ObjectLockConfiguration.Rule != nil {
		t.Fatalf("initial configuration %+v %v", got, err)
	}
	rule := func(mode types.ObjectLockRetentionMode, days, years *int32) *awss3.PutObjectLockConfigurationInput {
		return &awss3.PutObjectLockConfigurationInput{
			Bucket: aws.String("locked"),
			ObjectLockConfiguration: &types.ObjectLockConfiguration{
				ObjectLockEnabled: types.ObjectLockEnabledEnabled,
				Rule:              &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: mode, Days: days, Years: years}},
			},
		}
	}
	for _, tt := range []struct {
		name string
		in   *awss3.PutObjectLockConfigurationInput
		code string
	}{
		{"both days and years", rule(types.ObjectLockRetentionModeGovernance, aws.Int32(1), aws.Int32(1)), "MalformedXML"},
		{"neither days nor years", rule(types.ObjectLockRetentionModeGovernance, nil, nil), "MalformedXML"},
		{"bad mode", rule("FOREVER", aws.Int32(1), nil), "MalformedXML"},
		{"negative days", rule(types.ObjectLockRetentionModeGovernance, aws.Int32(-1), nil), "InvalidArgument"},
		{"too many years", rule(types.ObjectLockRetentionModeGovernance, nil, aws.Int32(101)), "InvalidArgument"},
	} {
		_, err := e.client.PutObjectLockConfiguration(ctx, tt.in)
		if got := apiCode(err); got != tt.code {
			t.Fatalf("%s: got %q (%v), want %s", tt.name, got, err, tt.code)
		}
	}
	if _, err := e.client.PutObjectLockConfiguration(ctx, rule(types.ObjectLockRetentionModeGovernance, aws.Int32(2), nil)); err != nil {
		t.Fatal(err)
	}
	got, err = e.client.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String("locked")})
	if err != nil || got.ObjectLockConfiguration.Rule == nil || got.ObjectLockConfiguration.Rule.DefaultRetention.Mode != types.ObjectLockRetentionModeGovernance ||
		aws.ToInt32(got.ObjectLockConfiguration.Rule.DefaultRetention.Days) != 2 {
		t.Fatalf("configuration with rule %+v %v", got, err)
	}

	// New versions get the default retention.
	e.put(t, "locked", "k", []byte("data"))
	head, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	if head.ObjectLockMode != types.ObjectLockModeGovernance || head.ObjectLockRetainUntilDate == nil ||
		head.ObjectLockRetainUntilDate.Sub(time.Now().AddDate(0, 0, 2)).Abs() > time.Minute {
		t.Fatalf("default retention on head: %q %v", head.ObjectLockMode, head.ObjectLockRetainUntilDate)
	}

	// So do objects uploaded with a POST form.
	body, ct := newPostForm("locked", [2]string{"key", "posted"}).body(t, "f.txt", []byte("form"))
	if resp, rb := e.post(t, "/locked", body, ct); resp.StatusCode/100 != 2 {
		t.Fatalf("post: %d %s", resp.StatusCode, rb)
	}
	head, err = e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String("posted")})
	if err != nil || head.ObjectLockMode != types.ObjectLockModeGovernance {
		t.Fatalf("default retention on posted object: %q %v", head.ObjectLockMode, err)
	}

	// An unversioned bucket can get object lock only once versioning is on.
	e.createBucket(t, "plain")
	plain := rule(types.ObjectLockRetentionModeCompliance, aws.Int32(1), nil)
	plain.Bucket = aws.String("plain")
	_, err = e.client.PutObjectLockConfiguration(ctx, plain)
	wantAPIError(t, err, "InvalidBucketState", 409)
	e.setVersioning(t, "plain", types.BucketVersioningStatusEnabled)
	if _, err := e.client.PutObjectLockConfiguration(ctx, plain); err != nil {
		t.Fatalf("lock a versioned bucket: %v", err)
	}
	// Lock headers need a bucket with object lock.
	e.createBucket(t, "nolock")
	_, err = e.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String("nolock"), Key: aws.String("k"), Body: bytes.NewReader(nil),
		ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn,
	})
	wantAPIError(t, err, "InvalidRequest", 400)
	_, err = e.client.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String("nolock")})
	wantAPIError(t, err, "ObjectLockConfigurationNotFoundError", 404)
	// Reading a missing key's retention or hold is NoSuchKey with or without
	// object lock; a present key in a bucket without it is InvalidRequest.
	_, err = e.client.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String("nolock"), Key: aws.String("none")})
	wantAPIError(t, err, "NoSuchKey", 404)
	_, err = e.client.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: aws.String("nolock"), Key: aws.String("none")})
	wantAPIError(t, err, "NoSuchKey", 404)
	e.put(t, "nolock", "here", []byte("x"))
	_, err = e.client.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String("nolock"), Key: aws.String("here")})
	wantAPIError(t, err, "InvalidRequest", 400)
	_, err = e.client.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: aws.String("nolock"), Key: aws.String("here")})
	wantAPIError(t, err, "InvalidRequest", 400)
}

// A missing bucket is NoSuchBucket whatever the body holds.
func TestLockSubresourcesOnMissingBucket(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	_, err := e.client.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{Bucket: aws.String("missing"), Key: aws.String("k")})
	wantAPIError(t, err, "NoSuchBucket", 404)
	_, err = e.client.PutObjectLegalHold(ctx, &awss3.PutObjectLegalHoldInput{Bucket: aws.String("missing"), Key: aws.String("k")})
	wantAPIError(t, err, "NoSuchBucket", 404)
	// On a bucket without object lock a bad body is still MalformedXML.
	e.createBucket(t, "nolock")
	_, err = e.client.PutObjectLegalHold(ctx, &awss3.PutObjectLegalHoldInput{Bucket: aws.String("nolock"), Key: aws.String("k")})
	wantAPIError(t, err, "MalformedXML", 400)
}

func TestCreateLockedBucketLeavesNothingOnFailure(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	e.meta.FailConfigKind("object-lock")
	_, err := e.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("half"), ObjectLockEnabledForBucket: aws.Bool(true)})
	if err == nil {
		t.Fatal("create locked bucket succeeded with its configuration failing")
	}
	_, err = e.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("half")})
	if httpStatus(err) != 404 {
		t.Fatalf("bucket left behind: %v", err)
	}
	e.meta.FailConfigKind("")
	e.createLockedBucket(t, "half")
}

func TestObjectRetentionAndLegalHold(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	e.createLockedBucket(t, "worm")
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)

	out, err := e.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String("worm"), Key: aws.String("gov"), Body: bytes.NewReader([]byte("g")),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until),
	})
	if err != nil {
		t.Fatal(err)
	}
	govID := out.VersionId

	ret, err := e.client.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String("worm"), Key: aws.String("gov"), VersionId: govID})
	if err != nil || ret.Retention.Mode != types.ObjectLockRetentionModeGovernance || !ret.Retention.RetainUntilDate.Equal(until) {
		t.Fatalf("get retention %+v %v", ret, err)
	}

	t.Run("bad headers", func(t *testing.T) {
		for _, in := range []*awss3.PutObjectInput{
			{ObjectLockMode: types.ObjectLockModeGovernance},
			{ObjectLockMode: "FOREVER", ObjectLockRetainUntilDate: aws.Time(until)},
			{ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(-time.Hour))},
			{ObjectLockLegalHoldStatus: "MAYBE"},
		} {
			in.Bucket, in.Key, in.Body = aws.String("worm"), aws.String("bad"), bytes.NewReader(nil)
			_, err := e.client.PutObject(ctx, in)
			wantAPIError(t, err, "InvalidArgument", 400)
		}
	})

	t.Run("delete refused without bypass", func(t *testing.T) {
		_, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("gov"), VersionId: govID})
		wantAPIError(t, err, "AccessDenied", 403)
		// Without a version id a delete marker is added.
		del, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("gov")})
		if err != nil || !aws.ToBool(del.DeleteMarker) {
			t.Fatalf("delete marker: %+v %v", del, err)
		}
		res, err := e.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{Bucket: aws.String("worm"), Delete: &types.Delete{
			Objects: []types.ObjectIdentifier{{Key: aws.String("gov"), VersionId: govID}},
		}})
		if err != nil || len(res.Errors) != 1 || aws.ToString(res.Errors[0].Code) != "AccessDenied" {
			t.Fatalf("delete objects: %+v %v", res, err)
		}
	})

	t.Run("retention changes", func(t *testing.T) {
		put := func(mode types.ObjectLockRetentionMode, until time.Time, bypass bool) error {
			_, err := e.client.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{
				Bucket: aws.String("worm"), Key: aws.String("gov"), VersionId: govID,
				Retention:                 &types.ObjectLockRetention{Mode: mode, RetainUntilDate: aws.Time(until)},
				BypassGovernanceRetention: aws.Bool(bypass),
			})
			return err
		}
		wantAPIError(t, put(types.ObjectLockRetentionModeGovernance, until.Add(-time.Minute), false), "AccessDenied", 403)
		wantAPIError(t, put(types.ObjectLockRetentionModeGovernance, time.Now().Add(-time.Minute), true), "InvalidArgument", 400)
		if err := put(types.ObjectLockRetentionModeGovernance, until.Add(time.Hour), false); err != nil {
			t.Fatalf("extend: %v", err)
		}
		if err := put(types.ObjectLockRetentionModeGovernance, until.Add(-time.Minute), true); err != nil {
			t.Fatalf("shorten with bypass: %v", err)
		}
	})

	t.Run("bypass deletes governance", func(t *testing.T) {
		res, err := e.client.DeleteObjects(ctx, &awss3.DeleteObjectsInput{
			Bucket: aws.String("worm"), BypassGovernanceRetention: aws.Bool(true),
			Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("gov"), VersionId: govID}}},
		})
		if err != nil || len(res.Errors) != 0 || len(res.Deleted) != 1 {
			t.Fatalf("bypass delete objects: %+v %v", res, err)
		}
	})

	t.Run("compliance cannot be shortened or bypassed", func(t *testing.T) {
		out, err := e.client.PutObject(ctx, &awss3.PutObjectInput{
			Bucket: aws.String("worm"), Key: aws.String("comp"), Body: bytes.NewReader([]byte("c")),
			ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until),
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.client.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{
			Bucket: aws.String("worm"), Key: aws.String("comp"), VersionId: out.VersionId, BypassGovernanceRetention: aws.Bool(true),
			Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until)},
		})
		wantAPIError(t, err, "AccessDenied", 403)
		_, err = e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{
			Bucket: aws.String("worm"), Key: aws.String("comp"), VersionId: out.VersionId, BypassGovernanceRetention: aws.Bool(true),
		})
		wantAPIError(t, err, "AccessDenied", 403)
	})

	t.Run("legal hold", func(t *testing.T) {
		out := e.put(t, "worm", "held", []byte("h"))
		_, err := e.client.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: aws.String("worm"), Key: aws.String("held")})
		wantAPIError(t, err, "NoSuchObjectLockConfiguration", 400)
		_, err = e.client.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String("worm"), Key: aws.String("held")})
		wantAPIError(t, err, "NoSuchObjectLockConfiguration", 400)
		hold := func(status types.ObjectLockLegalHoldStatus) {
			t.Helper()
			if _, err := e.client.PutObjectLegalHold(ctx, &awss3.PutObjectLegalHoldInput{
				Bucket: aws.String("worm"), Key: aws.String("held"), VersionId: out.VersionId,
				LegalHold: &types.ObjectLockLegalHold{Status: status},
			}); err != nil {
				t.Fatalf("legal hold %s: %v", status, err)
			}
		}
		hold(types.ObjectLockLegalHoldStatusOn)
		lh, err := e.client.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: aws.String("worm"), Key: aws.String("held")})
		if err != nil || lh.LegalHold.Status != types.ObjectLockLegalHoldStatusOn {
			t.Fatalf("get legal hold %+v %v", lh, err)
		}
		_, err = e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{
			Bucket: aws.String("worm"), Key: aws.String("held"), VersionId: out.VersionId, BypassGovernanceRetention: aws.Bool(true),
		})
		wantAPIError(t, err, "AccessDenied", 403)
		hold(types.ObjectLockLegalHoldStatusOff)
		// A released hold reads back as OFF, on GetObjectLegalHold and HEAD.
		lh, err = e.client.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: aws.String("worm"), Key: aws.String("held")})
		if err != nil || lh.LegalHold.Status != types.ObjectLockLegalHoldStatusOff {
			t.Fatalf("get released legal hold %+v %v", lh, err)
		}
		head, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("worm"), Key: aws.String("held")})
		if err != nil || head.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOff {
			t.Fatalf("head released legal hold %q %v", head.ObjectLockLegalHoldStatus, err)
		}
		if _, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{
			Bucket: aws.String("worm"), Key: aws.String("held"), VersionId: out.VersionId,
		}); err != nil {
			t.Fatalf("delete released version: %v", err)
		}
	})

	t.Run("delete marker by version id", func(t *testing.T) {
		e.put(t, "worm", "gone", []byte("x"))
		del, err := e.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String("worm"), Key: aws.String("gone")})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.client.PutObjectLegalHold(ctx, &awss3.PutObjectLegalHoldInput{
			Bucket: aws.String("worm"), Key: aws.String("gone"), VersionId: del.VersionId,
			LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn},
		})
		wantAPIError(t, err, "MethodNotAllowed", 405)
		_, err = e.client.PutObjectRetention(ctx, &awss3.PutObjectRetentionInput{
			Bucket: aws.String("worm"), Key: aws.String("gone"),
			Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until)},
		})
		wantAPIError(t, err, "NoSuchKey", 404)
	})

	t.Run("copy and multipart carry request lock", func(t *testing.T) {
		if _, err := e.client.CopyObject(ctx, &awss3.CopyObjectInput{
			Bucket: aws.String("worm"), Key: aws.String("copy"), CopySource: aws.String("worm/comp"),
			ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn,
		}); err != nil {
			t.Fatal(err)
		}
		head, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("worm"), Key: aws.String("copy")})
		if err != nil || head.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn || head.ObjectLockMode != "" {
			t.Fatalf("copy lock: %q %q %v", head.ObjectLockLegalHoldStatus, head.ObjectLockMode, err)
		}
		mp, err := e.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
			Bucket: aws.String("worm"), Key: aws.String("mp"),
			ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until),
		})
		if err != nil {
			t.Fatal(err)
		}
		part, err := e.client.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: aws.String("worm"), Key: aws.String("mp"), UploadId: mp.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("p")),
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
			Bucket: aws.String("worm"), Key: aws.String("mp"), UploadId: mp.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}},
		}); err != nil {
			t.Fatal(err)
		}
		got, err := e.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String("worm"), Key: aws.String("mp")})
		if err != nil {
			t.Fatal(err)
		}
		got.Body.Close()
		if got.ObjectLockMode != types.ObjectLockModeCompliance || !got.ObjectLockRetainUntilDate.Equal(until) {
			t.Fatalf("multipart lock: %q %v", got.ObjectLockMode, got.ObjectLockRetainUntilDate)
		}
	})
}

// A multipart object is made on Complete, so the bucket's default retention
// is the one in force then and counts from then; an upload created with
// retention of its own keeps it.
func TestMultipartDefaultRetentionAtComplete(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	e.createLockedBucket(t, "mplock")
	own := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	start := func(key string, in *awss3.CreateMultipartUploadInput) (string, string) {
		t.Helper()
		in.Bucket, in.Key = aws.String("mplock"), aws.String(key)
		up, err := e.client.CreateMultipartUpload(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		part, err := e.client.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: aws.String("mplock"), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("only part")),
		})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(up.UploadId), aws.ToString(part.ETag)
	}
	plainID, plainTag := start("plain", &awss3.CreateMultipartUploadInput{})
	ownID, ownTag := start("own", &awss3.CreateMultipartUploadInput{
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(own),
	})
	// The default rule arrives while the uploads are in progress.
	if _, err := e.client.PutObjectLockConfiguration(ctx, &awss3.PutObjectLockConfigurationInput{
		Bucket: aws.String("mplock"),
		ObjectLockConfiguration: &types.ObjectLockConfiguration{
			ObjectLockEnabled: types.ObjectLockEnabledEnabled,
			Rule:              &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(3)}},
		},
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key, id, etag string
		mode          types.ObjectLockMode
		until         time.Time
	}{
		{"plain", plainID, plainTag, types.ObjectLockModeGovernance, time.Now().AddDate(0, 0, 3)},
		{"own", ownID, ownTag, types.ObjectLockModeCompliance, own},
	} {
		if _, err := e.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
			Bucket: aws.String("mplock"), Key: aws.String(c.key), UploadId: aws.String(c.id),
			MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: aws.String(c.etag)}}},
		}); err != nil {
			t.Fatalf("complete %s: %v", c.key, err)
		}
		head, err := e.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String("mplock"), Key: aws.String(c.key)})
		if err != nil || head.ObjectLockMode != c.mode || head.ObjectLockRetainUntilDate == nil ||
			head.ObjectLockRetainUntilDate.Sub(c.until).Abs() > time.Minute {
			t.Fatalf("%s: retention %q until %v (%v), want %s until %v", c.key, head.ObjectLockMode, head.ObjectLockRetainUntilDate, err, c.mode, c.until)
		}
	}
}
