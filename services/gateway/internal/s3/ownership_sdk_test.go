package s3_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func ownershipOf(t *testing.T, e *testEnv, bucket string) types.ObjectOwnership {
	t.Helper()
	out, err := e.client.GetBucketOwnershipControls(ctxT(t), &awss3.GetBucketOwnershipControlsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	if out.OwnershipControls == nil || len(out.OwnershipControls.Rules) != 1 {
		t.Fatalf("ownership controls %+v", out.OwnershipControls)
	}
	return out.OwnershipControls.Rules[0].ObjectOwnership
}

func TestOwnershipControls(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	e.createBucket(t, "own")
	if got := ownershipOf(t, e, "own"); got != types.ObjectOwnershipBucketOwnerEnforced {
		t.Fatalf("default ownership %q", got)
	}
	put := func(o types.ObjectOwnership, rules int) error {
		var rs []types.OwnershipControlsRule
		for range rules {
			rs = append(rs, types.OwnershipControlsRule{ObjectOwnership: o})
		}
		_, err := e.client.PutBucketOwnershipControls(ctx, &awss3.PutBucketOwnershipControlsInput{
			Bucket: aws.String("own"), OwnershipControls: &types.OwnershipControls{Rules: rs}})
		return err
	}
	if err := put(types.ObjectOwnershipObjectWriter, 1); err != nil {
		t.Fatal(err)
	}
	if got := ownershipOf(t, e, "own"); got != types.ObjectOwnershipObjectWriter {
		t.Fatalf("ownership %q", got)
	}
	wantAPIError(t, put("Nobody", 1), "MalformedXML", 400)
	wantAPIError(t, put(types.ObjectOwnershipBucketOwnerPreferred, 2), "MalformedXML", 400)
	resp, body := do(t, e.signedRequest(t, "PUT", "/own?ownershipControls", []byte(`<OwnershipControls xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></OwnershipControls>`), nil, ""))
	checkXMLError(t, resp, body, 400, "MalformedXML")

	if _, err := e.client.DeleteBucketOwnershipControls(ctx, &awss3.DeleteBucketOwnershipControlsInput{Bucket: aws.String("own")}); err != nil {
		t.Fatal(err)
	}
	_, err := e.client.GetBucketOwnershipControls(ctx, &awss3.GetBucketOwnershipControlsInput{Bucket: aws.String("own")})
	wantAPIError(t, err, "OwnershipControlsNotFoundError", 404)

	_, err = e.client.GetBucketOwnershipControls(ctx, &awss3.GetBucketOwnershipControlsInput{Bucket: aws.String("nobucket")})
	wantAPIError(t, err, "NoSuchBucket", 404)
	_, err = e.client.PutBucketOwnershipControls(ctx, &awss3.PutBucketOwnershipControlsInput{Bucket: aws.String("nobucket"),
		OwnershipControls: &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipObjectWriter}}}})
	wantAPIError(t, err, "NoSuchBucket", 404)
	_, err = e.client.DeleteBucketOwnershipControls(ctx, &awss3.DeleteBucketOwnershipControlsInput{Bucket: aws.String("nobucket")})
	wantAPIError(t, err, "NoSuchBucket", 404)
}

func TestCreateBucketOwnership(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	if _, err := e.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("pref"),
		ObjectOwnership: types.ObjectOwnershipBucketOwnerPreferred}); err != nil {
		t.Fatal(err)
	}
	if got := ownershipOf(t, e, "pref"); got != types.ObjectOwnershipBucketOwnerPreferred {
		t.Fatalf("ownership %q", got)
	}
	// ACLs can be disabled only while the bucket ACL is private.
	if _, err := e.client.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("pref"), ACL: types.BucketCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	enforce := &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}}}
	_, err := e.client.PutBucketOwnershipControls(ctx, &awss3.PutBucketOwnershipControlsInput{Bucket: aws.String("pref"), OwnershipControls: enforce})
	wantAPIError(t, err, "InvalidBucketAclWithObjectOwnership", 400)
	if _, err := e.client.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("pref"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.PutBucketOwnershipControls(ctx, &awss3.PutBucketOwnershipControlsInput{Bucket: aws.String("pref"), OwnershipControls: enforce}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bad"), ObjectOwnership: "Nobody"})
	wantAPIError(t, err, "InvalidArgument", 400)
	_, err = e.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bad"), ACL: types.BucketCannedACLPublicRead})
	wantAPIError(t, err, "InvalidBucketAclWithObjectOwnership", 400)
	_, err = e.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("bad"), ACL: types.BucketCannedACLPublicRead,
		ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced})
	wantAPIError(t, err, "InvalidBucketAclWithObjectOwnership", 400)
	if _, err := e.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String("bad")}); err == nil {
		t.Fatal("a refused CreateBucket created the bucket")
	}
	if _, err := e.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String("priv"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatal(err)
	}
	if got := ownershipOf(t, e, "priv"); got != types.ObjectOwnershipBucketOwnerEnforced {
		t.Fatalf("ownership %q", got)
	}
}
