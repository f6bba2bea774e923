package s3_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

func TestNotConfiguredSubresources(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "plain")
	ctx := ctxT(t)
	b := aws.String("plain")
	tests := []struct {
		name   string
		call   func(context.Context, *string) error
		code   string
		status int
	}{
		{"policy", func(ctx context.Context, b *string) error {
			_, err := e.client.GetBucketPolicy(ctx, &awss3.GetBucketPolicyInput{Bucket: b})
			return err
		}, "NoSuchBucketPolicy", 404},
		{"policy status", func(ctx context.Context, b *string) error {
			_, err := e.client.GetBucketPolicyStatus(ctx, &awss3.GetBucketPolicyStatusInput{Bucket: b})
			return err
		}, "NoSuchBucketPolicy", 404},
		{"lifecycle", func(ctx context.Context, b *string) error {
			_, err := e.client.GetBucketLifecycleConfiguration(ctx, &awss3.GetBucketLifecycleConfigurationInput{Bucket: b})
			return err
		}, "NoSuchLifecycleConfiguration", 404},
		{"encryption", func(ctx context.Context, b *string) error {
			_, err := e.client.GetBucketEncryption(ctx, &awss3.GetBucketEncryptionInput{Bucket: b})
			return err
		}, "ServerSideEncryptionConfigurationNotFoundError", 404},
		{"object lock", func(ctx context.Context, b *string) error {
			_, err := e.client.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: b})
			return err
		}, "ObjectLockConfigurationNotFoundError", 404},
		{"website", func(ctx context.Context, b *string) error {
			_, err := e.client.GetBucketWebsite(ctx, &awss3.GetBucketWebsiteInput{Bucket: b})
			return err
		}, "NoSuchWebsiteConfiguration", 404},
		{"replication", func(ctx context.Context, b *string) error {
			_, err := e.client.GetBucketReplication(ctx, &awss3.GetBucketReplicationInput{Bucket: b})
			return err
		}, "ReplicationConfigurationNotFoundError", 404},
		{"public access block", func(ctx context.Context, b *string) error {
			_, err := e.client.GetPublicAccessBlock(ctx, &awss3.GetPublicAccessBlockInput{Bucket: b})
			return err
		}, "NoSuchPublicAccessBlockConfiguration", 404},
		{"retention", func(ctx context.Context, b *string) error {
			_, err := e.client.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: b, Key: aws.String("k")})
			return err
		}, "NoSuchKey", 404}, // the key is looked up before the bucket's lock
		{"legal hold", func(ctx context.Context, b *string) error {
			_, err := e.client.GetObjectLegalHold(ctx, &awss3.GetObjectLegalHoldInput{Bucket: b, Key: aws.String("k")})
			return err
		}, "NoSuchKey", 404}, // the key is looked up before the bucket's lock
		{"delete policy", func(ctx context.Context, b *string) error {
			_, err := e.client.DeleteBucketPolicy(ctx, &awss3.DeleteBucketPolicyInput{Bucket: b})
			return err
		}, "", 0},
		{"delete lifecycle", func(ctx context.Context, b *string) error {
			_, err := e.client.DeleteBucketLifecycle(ctx, &awss3.DeleteBucketLifecycleInput{Bucket: b})
			return err
		}, "", 0},
		{"delete encryption", func(ctx context.Context, b *string) error {
			_, err := e.client.DeleteBucketEncryption(ctx, &awss3.DeleteBucketEncryptionInput{Bucket: b})
			return err
		}, "", 0},
		{"logging", func(ctx context.Context, b *string) error {
			out, err := e.client.GetBucketLogging(ctx, &awss3.GetBucketLoggingInput{Bucket: b})
			if err == nil && out.LoggingEnabled != nil {
				t.Error("logging reported as enabled")
			}
			return err
		}, "", 0},
		{"notification", func(ctx context.Context, b *string) error {
			out, err := e.client.GetBucketNotificationConfiguration(ctx, &awss3.GetBucketNotificationConfigurationInput{Bucket: b})
			if err == nil && (len(out.QueueConfigurations) > 0 || len(out.TopicConfigurations) > 0) {
				t.Error("notifications reported")
			}
			return err
		}, "", 0},
		{"accelerate", func(ctx context.Context, b *string) error {
			out, err := e.client.GetBucketAccelerateConfiguration(ctx, &awss3.GetBucketAccelerateConfigurationInput{Bucket: b})
			if err == nil && out.Status != "" {
				t.Errorf("accelerate status %q", out.Status)
			}
			return err
		}, "", 0},
		{"request payment", func(ctx context.Context, b *string) error {
			out, err := e.client.GetBucketRequestPayment(ctx, &awss3.GetBucketRequestPaymentInput{Bucket: b})
			if err == nil && out.Payer != types.PayerBucketOwner {
				t.Errorf("payer %q", out.Payer)
			}
			return err
		}, "", 0},
		{"put lifecycle", func(ctx context.Context, b *string) error {
			_, err := e.client.PutBucketLifecycleConfiguration(ctx, &awss3.PutBucketLifecycleConfigurationInput{Bucket: b,
				LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}}}}})
			return err
		}, "NotImplemented", 501},
		{"put encryption", func(ctx context.Context, b *string) error {
			_, err := e.client.PutBucketEncryption(ctx, &awss3.PutBucketEncryptionInput{Bucket: b,
				ServerSideEncryptionConfiguration: &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: types.ServerSideEncryptionAes256}}}}})
			return err
		}, "NotImplemented", 501},
		{"restore", func(ctx context.Context, b *string) error {
			_, err := e.client.RestoreObject(ctx, &awss3.RestoreObjectInput{Bucket: b, Key: aws.String("k")})
			return err
		}, "NotImplemented", 501},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(ctx, b)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
			} else {
				wantAPIError(t, err, tt.code, tt.status)
			}
			if tt.status == 501 {
				return
			}
			// A missing bucket is NoSuchBucket, not the subresource's answer.
			wantAPIError(t, tt.call(ctx, aws.String("nobucket")), "NoSuchBucket", 404)
		})
	}
}

func TestUnsupportedSubresourcesAnswer501(t *testing.T) {
	e := newTestEnv(t)
	e.createBucket(t, "subs")
	e.put(t, "subs", "k", []byte("x"))
	for _, target := range []struct{ method, path string }{
		{"PUT", "/subs?replication"},
		{"PUT", "/subs?logging"},
		{"PUT", "/subs?notification"},
		{"PUT", "/subs?accelerate"},
		{"PUT", "/subs?requestPayment"},
		{"PUT", "/subs?publicAccessBlock"},
		{"GET", "/subs?inventory"},
		{"GET", "/subs?metrics"},
		{"GET", "/subs?analytics"},
		{"PUT", "/subs?intelligent-tiering&id=x"},
		{"POST", "/subs/k?restore"},
		{"POST", "/subs/k?select&select-type=2"},
		{"GET", "/subs/k?torrent"},
		{"PUT", "/subs/k?renameObject"},
	} {
		t.Run(target.method+" "+target.path, func(t *testing.T) {
			resp, body := do(t, e.signedRequest(t, target.method, target.path, nil, nil, ""))
			checkXMLError(t, resp, body, 501, "NotImplemented")
		})
	}
}
