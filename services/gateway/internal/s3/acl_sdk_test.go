package s3_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

const allUsers = "http://acs.amazonaws.com/groups/global/AllUsers"

func ownerGrantOnly(t *testing.T, owner *types.Owner, grants []types.Grant) {
	t.Helper()
	if owner == nil || aws.ToString(owner.ID) != testKey || len(grants) != 1 || grants[0].Permission != types.PermissionFullControl ||
		grants[0].Grantee == nil || aws.ToString(grants[0].Grantee.ID) != testKey || grants[0].Grantee.Type != types.TypeCanonicalUser {
		t.Fatalf("owner %+v grants %+v", owner, grants)
	}
}

func TestOwnerIsTheAccessKey(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "own")
	e.put(t, "own", "k", []byte("x"))
	ctx := ctxT(t)
	lb, err := e.client.ListBuckets(ctx, &awss3.ListBucketsInput{})
	if err != nil {
		t.Fatal(err)
	}
	lo, err := e.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String("own"), FetchOwner: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(lb.Owner.ID) != testKey || len(lo.Contents) != 1 || aws.ToString(lo.Contents[0].Owner.ID) != testKey {
		t.Fatalf("owners: buckets %+v objects %+v", lb.Owner, lo.Contents)
	}
}

func TestACLOwnerEnforced(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "acls")
	e.put(t, "acls", "k", []byte("x"))
	ctx := ctxT(t)
	bacl, err := e.client.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: aws.String("acls")})
	if err != nil {
		t.Fatal(err)
	}
	ownerGrantOnly(t, bacl.Owner, bacl.Grants)
	oacl, err := e.client.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	ownerGrantOnly(t, oacl.Owner, oacl.Grants)
	_, err = e.client.GetObjectAcl(ctx, &awss3.GetObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("missing")})
	wantAPIError(t, err, "NoSuchKey", 404)
	_, err = e.client.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: aws.String("nobucket")})
	wantAPIError(t, err, "NoSuchBucket", 404)

	// ACLs disabled: only the owner's FULL_CONTROL may be asked for.
	if _, err := e.client.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("acls"), ACL: types.BucketCannedACLPrivate}); err != nil {
		t.Fatalf("private bucket acl: %v", err)
	}
	if _, err := e.client.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("k"),
		AccessControlPolicy: &types.AccessControlPolicy{Owner: bacl.Owner, Grants: bacl.Grants}}); err != nil {
		t.Fatalf("owner-only object acl: %v", err)
	}
	_, err = e.client.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("acls"), ACL: types.BucketCannedACLPublicRead, GrantRead: aws.String("id=" + testKey)})
	wantAPIError(t, err, "AccessControlListNotSupported", 400)
	_, err = e.client.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: aws.String("acls"), Key: aws.String("k"), AccessControlPolicy: &types.AccessControlPolicy{
		Owner:  bacl.Owner,
		Grants: []types.Grant{{Grantee: &types.Grantee{Type: types.TypeGroup, URI: aws.String(allUsers)}, Permission: types.PermissionRead}},
	}})
	wantAPIError(t, err, "AccessControlListNotSupported", 400)

	// Object writes may ask for no more than the owner's FULL_CONTROL.
	_, err = e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("acls"), Key: aws.String("p"), ACL: types.ObjectCannedACLPublicRead})
	wantAPIError(t, err, "AccessControlListNotSupported", 400)
	_, err = e.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String("acls"), Key: aws.String("p"), GrantRead: aws.String(`uri="` + allUsers + `"`)})
	wantAPIError(t, err, "AccessControlListNotSupported", 400)
	_, err = e.client.CopyObject(ctx, &awss3.CopyObjectInput{Bucket: aws.String("acls"), Key: aws.String("p"), CopySource: aws.String("acls/k"), ACL: types.ObjectCannedACLPublicReadWrite})
	wantAPIError(t, err, "AccessControlListNotSupported", 400)
	if _, err := e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String("acls"), Key: aws.String("p"), ACL: types.ObjectCannedACLBucketOwnerFullControl}); err != nil {
		t.Fatalf("bucket-owner-full-control object: %v", err)
	}

	resp, body := do(t, e.signedRequest(t, "GET", "/acls?acl", nil, nil, ""))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">`) {
		t.Fatalf("acl document: %s", body)
	}
}

func TestACLEnabled(t *testing.T) {
	e := newTestEnv(t)
	ctx := ctxT(t)
	b := aws.String("open")
	if _, err := e.client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: b, ObjectOwnership: types.ObjectOwnershipBucketOwnerPreferred}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicReadWrite}); err != nil {
		t.Fatal(err)
	}
	out, err := e.client.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Grants) != 3 || aws.ToString(out.Grants[0].Grantee.ID) != testKey ||
		out.Grants[1].Grantee.Type != types.TypeGroup || aws.ToString(out.Grants[1].Grantee.URI) != allUsers || out.Grants[1].Permission != types.PermissionRead ||
		out.Grants[2].Permission != types.PermissionWrite {
		t.Fatalf("grants %+v", out.Grants)
	}
	// AllUsers READ and WRITE on the bucket: anonymous listing and writing.
	e.put(t, "open", "k", []byte("x"))
	if code, body := anonymous(t, e, "GET", "/open?list-type=2", ""); code != 200 {
		t.Fatalf("anonymous list with public-read-write: %d %s", code, body)
	}
	if code, body := anonymous(t, e, "PUT", "/open/anon", "hi"); code != 200 {
		t.Fatalf("anonymous put with public-read-write: %d %s", code, body)
	}
	if code, _ := anonymous(t, e, "GET", "/open/k", ""); code != 403 {
		t.Fatalf("anonymous object read without an object ACL: %d", code)
	}
	// Grant headers replace the ACL.
	if _, err := e.client.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: b, GrantFullControl: aws.String(`id="` + testKey + `"`),
		GrantRead: aws.String(`uri="` + allUsers + `"`)}); err != nil {
		t.Fatal(err)
	}
	out, err = e.client.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: b})
	if err != nil || len(out.Grants) != 2 {
		t.Fatalf("grants %+v err %v", out, err)
	}
	own := &types.Owner{ID: aws.String(testKey)}
	ownerFull := types.Grant{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String(testKey)}, Permission: types.PermissionFullControl}
	if _, err := e.client.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: b, AccessControlPolicy: &types.AccessControlPolicy{Owner: own, Grants: []types.Grant{ownerFull}}}); err != nil {
		t.Fatal(err)
	}
	out, err = e.client.GetBucketAcl(ctx, &awss3.GetBucketAclInput{Bucket: b})
	if err != nil {
		t.Fatal(err)
	}
	ownerGrantOnly(t, out.Owner, out.Grants)
	if code, _ := anonymous(t, e, "GET", "/open?list-type=2", ""); code != 403 {
		t.Fatalf("anonymous list with a private ACL: %d", code)
	}

	bad := []struct {
		name string
		in   awss3.PutBucketAclInput
		code string
	}{
		{"nothing", awss3.PutBucketAclInput{}, "MissingSecurityHeader"},
		{"bad canned", awss3.PutBucketAclInput{ACL: "nonsense"}, "InvalidArgument"},
		{"canned and grants", awss3.PutBucketAclInput{ACL: types.BucketCannedACLPrivate, GrantRead: aws.String("id=" + testKey)}, "InvalidRequest"},
		{"canned and body", awss3.PutBucketAclInput{ACL: types.BucketCannedACLPrivate, AccessControlPolicy: &types.AccessControlPolicy{Owner: own, Grants: []types.Grant{ownerFull}}}, "UnexpectedContent"},
		{"grants and body", awss3.PutBucketAclInput{GrantRead: aws.String("id=" + testKey), AccessControlPolicy: &types.AccessControlPolicy{Owner: own, Grants: []types.Grant{ownerFull}}}, "UnexpectedContent"},
		{"no owner", awss3.PutBucketAclInput{AccessControlPolicy: &types.AccessControlPolicy{Grants: []types.Grant{ownerFull}}}, "MalformedACLError"},
		{"bad permission", awss3.PutBucketAclInput{AccessControlPolicy: &types.AccessControlPolicy{Owner: own, Grants: []types.Grant{{Grantee: ownerFull.Grantee, Permission: "ALL"}}}}, "MalformedACLError"},
		{"bad grantee type", awss3.PutBucketAclInput{AccessControlPolicy: &types.AccessControlPolicy{Owner: own, Grants: []types.Grant{{Grantee: &types.Grantee{Type: "Robot", ID: aws.String("x")}, Permission: types.PermissionRead}}}}, "MalformedACLError"},
		{"empty grantee id", awss3.PutBucketAclInput{AccessControlPolicy: &types.AccessControlPolicy{Owner: own, Grants: []types.Grant{{Grantee: &types.Grantee{Type: types.TypeCanonicalUser}, Permission: types.PermissionRead}}}}, "MalformedACLError"},
		{"unknown grantee", awss3.PutBucketAclInput{AccessControlPolicy: &types.AccessControlPolicy{Owner: own, Grants: []types.Grant{{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String("someone")}, Permission: types.PermissionRead}}}}, "InvalidArgument"},
		{"bad grant header", awss3.PutBucketAclInput{GrantRead: aws.String("someone")}, "InvalidArgument"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.Bucket = b
			_, err := e.client.PutBucketAcl(ctx, &in)
			wantAPIError(t, err, tt.code, 400)
		})
	}
	// With ACLs enabled object ACL headers are accepted (and not kept).
	if _, err := e.client.PutObject(ctx, &awss3.PutObjectInput{Bucket: b, Key: aws.String("w"), ACL: types.ObjectCannedACLPublicRead}); err != nil {
		t.Fatal(err)
	}
	// Object ACLs beyond the owner's FULL_CONTROL are not stored.
	_, err = e.client.PutObjectAcl(ctx, &awss3.PutObjectAclInput{Bucket: b, Key: aws.String("k"), ACL: types.ObjectCannedACLPublicRead})
	wantAPIError(t, err, "NotImplemented", 501)
	_, err = e.client.PutBucketAcl(ctx, &awss3.PutBucketAclInput{Bucket: aws.String("nobucket"), ACL: types.BucketCannedACLPrivate})
	wantAPIError(t, err, "NoSuchBucket", 404)
}
