package store

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestObjectLock(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "worm", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBucketVersioning(ctx, "worm", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBucketConfig(ctx, "worm", BucketConfigObjectLock, []byte("<ObjectLockConfiguration/>")); err != nil {
		t.Fatal(err)
	}
	// Object lock pins versioning on.
	if _, err := s.SetBucketVersioning(ctx, "worm", VersioningSuspended); !errors.Is(err, ErrInvalidBucketState) {
		t.Fatalf("suspend with object lock: %v", err)
	}

	future := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	later := future.Add(time.Hour)
	past := time.Now().Add(-time.Hour)
	n := 0
	locked := func(mode string, until time.Time) Version {
		n++
		v := object("worm", "k", fmt.Sprintf("locked-%d", n), 1)
		v.LockMode, v.LockRetainUntil = mode, &until
		return mustCommit(t, s, v)
	}

	t.Run("retention is stored and read back", func(t *testing.T) {
		v := locked(LockGovernance, future)
		got := mustGet(t, s, "worm", "k", v.VersionID)
		if got.LockMode != LockGovernance || got.LockRetainUntil == nil || !got.LockRetainUntil.Equal(future) || got.LegalHold {
			t.Fatalf("got lock %q %v %v", got.LockMode, got.LockRetainUntil, got.LegalHold)
		}
	})

	t.Run("invalid retention refused", func(t *testing.T) {
		v := object("worm", "k", "bad", 1)
		v.LockMode = "FOREVER"
		v.LockRetainUntil = &future
		if _, err := s.CommitObject(ctx, v, Preconditions{}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("bad mode: %v", err)
		}
		v.LockMode, v.LockRetainUntil = LockCompliance, nil
		if _, err := s.CommitObject(ctx, v, Preconditions{}); !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("mode without date: %v", err)
		}
	})

	t.Run("governance needs bypass to delete", func(t *testing.T) {
		v := locked(LockGovernance, future)
		if _, err := s.DeleteObject(ctx, "worm", "k", v.VersionID, false); !errors.Is(err, ErrObjectLocked) {
			t.Fatalf("delete governance version: %v", err)
		}
		// A delete without a version id only adds a marker.
		if res := mustDelete(t, s, "worm", "k", ""); !res.DeleteMarker {
			t.Fatalf("delete marker: %+v", res)
		}
		if got := mustGet(t, s, "worm", "k", v.VersionID); got.Size != 1 {
			t.Fatalf("version gone: %+v", got)
		}
		res, err := s.DeleteObject(ctx, "worm", "k", v.VersionID, true)
		if err != nil || !res.Deleted {
			t.Fatalf("bypass delete: %+v %v", res, err)
		}
	})

	t.Run("compliance blocks even with bypass", func(t *testing.T) {
		v := locked(LockCompliance, future)
		if _, err := s.DeleteObject(ctx, "worm", "k", v.VersionID, true); !errors.Is(err, ErrObjectLocked) {
			t.Fatalf("delete compliance version: %v", err)
		}
	})

	t.Run("expired retention does not hold", func(t *testing.T) {
		v := locked(LockCompliance, past)
		if res, err := s.DeleteObject(ctx, "worm", "k", v.VersionID, false); err != nil || !res.Deleted {
			t.Fatalf("delete expired: %+v %v", res, err)
		}
	})

	t.Run("legal hold blocks until released", func(t *testing.T) {
		v := mustCommit(t, s, object("worm", "k", "held", 1))
		if got := mustGet(t, s, "worm", "k", v.VersionID); got.LegalHold || got.LegalHoldSet {
			t.Fatalf("new version has a legal hold: %v %v", got.LegalHold, got.LegalHoldSet)
		}
		if _, err := s.PutObjectLegalHold(ctx, "worm", "k", v.VersionID, true); err != nil {
			t.Fatal(err)
		}
		if !mustGet(t, s, "worm", "k", v.VersionID).LegalHold {
			t.Fatal("legal hold not stored")
		}
		if _, err := s.DeleteObject(ctx, "worm", "k", v.VersionID, true); !errors.Is(err, ErrObjectLocked) {
			t.Fatalf("delete held version: %v", err)
		}
		if _, err := s.PutObjectLegalHold(ctx, "worm", "k", v.VersionID, false); err != nil {
			t.Fatal(err)
		}
		// Released, not never held: S3 shows OFF.
		if got := mustGet(t, s, "worm", "k", v.VersionID); got.LegalHold || !got.LegalHoldSet {
			t.Fatalf("released hold reads %v set=%v", got.LegalHold, got.LegalHoldSet)
		}
		if _, err := s.DeleteObject(ctx, "worm", "k", v.VersionID, false); err != nil {
			t.Fatalf("delete released version: %v", err)
		}
	})

	t.Run("retention changes", func(t *testing.T) {
		gov := locked(LockGovernance, future)
		comp := locked(LockCompliance, future)
		earlier := future.Add(-time.Minute)
		for _, tt := range []struct {
			name    string
			id      string
			mode    string
			until   *time.Time
			bypass  bool
			wantErr error
		}{
			{"governance extend", gov.VersionID, LockGovernance, &later, false, nil},
			{"governance shorten", gov.VersionID, LockGovernance, &earlier, false, ErrObjectLocked},
			{"governance to compliance", gov.VersionID, LockCompliance, &later, false, ErrObjectLocked},
			{"governance remove", gov.VersionID, "", nil, false, ErrObjectLocked},
			{"governance shorten with bypass", gov.VersionID, LockGovernance, &earlier, true, nil},
			{"governance remove with bypass", gov.VersionID, "", nil, true, nil},
			{"compliance same date", comp.VersionID, LockCompliance, &future, false, nil},
			{"compliance extend", comp.VersionID, LockCompliance, &later, false, nil},
			{"compliance shorten with bypass", comp.VersionID, LockCompliance, &future, true, ErrObjectLocked},
			{"compliance to governance with bypass", comp.VersionID, LockGovernance, &later, true, ErrObjectLocked},
			{"compliance remove with bypass", comp.VersionID, "", nil, true, ErrObjectLocked},
			{"bad mode", comp.VersionID, "SOMETIMES", &later, false, ErrInvalidArgument},
			{"missing version", "00000000-0000-0000-0000-000000000000", LockGovernance, &later, false, ErrNoSuchVersion},
		} {
			_, err := s.PutObjectRetention(ctx, "worm", "k", tt.id, tt.mode, tt.until, tt.bypass)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("%s: got %v, want %v", tt.name, err, tt.wantErr)
			}
		}
		got := mustGet(t, s, "worm", "k", gov.VersionID)
		if got.LockMode != "" || got.LockRetainUntil != nil {
			t.Fatalf("removed retention reads %q %v", got.LockMode, got.LockRetainUntil)
		}
		got = mustGet(t, s, "worm", "k", comp.VersionID)
		if got.LockMode != LockCompliance || !got.LockRetainUntil.Equal(later) {
			t.Fatalf("compliance retention %q %v", got.LockMode, got.LockRetainUntil)
		}
	})

	t.Run("multipart template carries the lock", func(t *testing.T) {
		tmpl := Version{LockMode: LockGovernance, LockRetainUntil: &future, LegalHold: true}
		u, err := s.CreateMultipartUpload(ctx, Upload{Bucket: "worm", Key: "mp", Template: tmpl})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetMultipartUpload(ctx, "worm", "mp", u.UploadID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Template.LockMode != LockGovernance || !got.Template.LockRetainUntil.Equal(future) || !got.Template.LegalHold {
			t.Fatalf("template lock %q %v %v", got.Template.LockMode, got.Template.LockRetainUntil, got.Template.LegalHold)
		}
	})

	t.Run("default retention given on complete", func(t *testing.T) {
		own := Version{LockMode: LockCompliance, LockRetainUntil: &future}
		later := future.Add(time.Hour)
		def := CompleteOptions{DefaultLockMode: LockGovernance, DefaultLockRetainUntil: &later}
		for key, tmpl := range map[string]Version{"mp-default": {}, "mp-own": own} {
			u, err := s.CreateMultipartUpload(ctx, Upload{Bucket: "worm", Key: key, Template: tmpl})
			if err != nil {
				t.Fatal(err)
			}
			mustPutPart(t, s, u, 1, partSegment(key+"-p1", 7))
			parts := completed(map[int]string{1: key + "-p1"}, 1)
			if _, err := s.CompleteMultipartUpload(ctx, "worm", key, u.UploadID, parts,
				CompleteOptions{DefaultLockMode: LockGovernance}); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("%s: default mode without a date: %v", key, err)
			}
			v, err := s.CompleteMultipartUpload(ctx, "worm", key, u.UploadID, parts, def)
			if err != nil {
				t.Fatal(err)
			}
			want, wantUntil := LockGovernance, later
			if key == "mp-own" {
				want, wantUntil = LockCompliance, future
			}
			if got := mustGet(t, s, "worm", key, v.VersionID); got.LockMode != want || !got.LockRetainUntil.Equal(wantUntil) {
				t.Fatalf("%s: retention %q %v, want %q %v", key, got.LockMode, got.LockRetainUntil, want, wantUntil)
			}
		}
	})

	// A locked version keeps its bucket from being deleted.
	if err := s.DeleteBucket(ctx, "worm", false); !errors.Is(err, ErrBucketNotEmpty) {
		t.Fatalf("delete bucket: %v", err)
	}
}

func TestForcedBucketDeleteKeepsLockedVersions(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "vault", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBucketVersioning(ctx, "vault", VersioningEnabled); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBucketConfig(ctx, "vault", BucketConfigObjectLock, []byte("<ObjectLockConfiguration/>")); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Hour)
	v := object("vault", "k", "kept", 1)
	v.LockMode, v.LockRetainUntil = LockCompliance, &until
	v = mustCommit(t, s, v)
	if err := s.DeleteBucket(ctx, "vault", true); !errors.Is(err, ErrObjectLocked) {
		t.Fatalf("forced delete of a bucket with a locked version: %v", err)
	}
	if got := mustGet(t, s, "vault", "k", v.VersionID); got.VersionID != v.VersionID {
		t.Fatalf("locked version gone: %+v", got)
	}
}

func TestObjectLockNeedsEnabledVersioning(t *testing.T) {
	e := newEnv(t, "us-east-1")
	s := e.store(t, Options{})
	ctx := testCtx(t)
	if _, err := s.CreateBucket(ctx, "plain", "us-east-1", 2, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBucketConfig(ctx, "plain", BucketConfigObjectLock, []byte("<ObjectLockConfiguration/>")); !errors.Is(err, ErrInvalidBucketState) {
		t.Fatalf("object lock on an unversioned bucket: %v", err)
	}
	if _, err := s.SetBucketVersioning(ctx, "plain", VersioningSuspended); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBucketConfig(ctx, "plain", BucketConfigObjectLock, []byte("<ObjectLockConfiguration/>")); !errors.Is(err, ErrInvalidBucketState) {
		t.Fatalf("object lock on a suspended bucket: %v", err)
	}
}
