package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// PutObjectTagging replaces the tags of a version (the current one when
// versionID is empty) and returns the version's id. A delete marker has no
// tags: addressing one is a *DeleteMarkerError (S3: 404 NoSuchKey for the
// current version, 405 MethodNotAllowed by version id).
func (s *Store) PutObjectTagging(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error) {
	if err := checkMap("tag", tags); err != nil {
		return "", err
	}
	return s.setTags(ctx, bucket, key, versionID, tags)
}

// DeleteObjectTagging removes the tags of a version (the current one when
// versionID is empty) and returns the version's id.
func (s *Store) DeleteObjectTagging(ctx context.Context, bucket, key, versionID string) (string, error) {
	return s.setTags(ctx, bucket, key, versionID, nil)
}

func (s *Store) setTags(ctx context.Context, bucket, key, versionID string, tags map[string]string) (string, error) {
	if tags == nil {
		tags = map[string]string{}
	}
	tagsJSON, err := json.Marshal(tags)
	if err != nil {
		return "", fmt.Errorf("encode tags: %w", err)
	}
	return s.updateVersion(ctx, bucket, key, versionID, func(tx pgx.Tx, id string, _ versionLock) error {
		if _, err := tx.Exec(ctx, "UPDATE object_versions SET tags = $2::jsonb WHERE version_id = $1::uuid", id, string(tagsJSON)); err != nil {
			return fmt.Errorf("write tags: %w", err)
		}
		return nil
	})
}

// updateVersion runs update on a version of a key (the current one when
// versionID is empty) under the key's lock, so the current version cannot
// change between finding it and updating it, and returns the version's id
// as S3 shows it. A delete marker is a *DeleteMarkerError.
func (s *Store) updateVersion(ctx context.Context, bucket, key, versionID string, update func(tx pgx.Tx, id string, l versionLock) error) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	sel, selArgs, ok := versionSelector(versionID)
	if !ok {
		return "", invalidVersionID(versionID)
	}
	b, pool, err := s.servedBucket(ctx, bucket)
	if err != nil {
		return "", err
	}
	var shown string
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		st, err := lockKey(ctx, tx, b, key)
		if err != nil {
			return err
		}
		var id string
		var null, marker bool
		var l versionLock
		err = tx.QueryRow(ctx, "SELECT version_id::text, null_version, delete_marker, "+sqlVersionLock+
			" FROM object_versions WHERE bucket_id = $1 AND key = $2 AND "+sel,
			append([]any{b.ID, key}, selArgs...)...).Scan(append([]any{&id, &null, &marker}, l.scanTargets()...)...)
		switch {
		case errors.Is(err, pgx.ErrNoRows) && versionID != "":
			return fmt.Errorf("%w: %s/%s version %s", ErrNoSuchVersion, bucket, key, versionID)
		case errors.Is(err, pgx.ErrNoRows):
			return fmt.Errorf("%w: %s/%s", ErrNoSuchKey, bucket, key)
		case err != nil:
			return fmt.Errorf("read version: %w", err)
		}
		shown = displayID(id, null, st.versioning)
		if marker {
			return &DeleteMarkerError{Bucket: b.Name, Key: key, VersionID: shown}
		}
		return update(tx, id, l)
	})
	if err != nil {
		return "", fmt.Errorf("update %s/%s: %w", bucket, key, err)
	}
	return shown, nil
}
