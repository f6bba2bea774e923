package fake

import (
	"context"

	metadatav1 "github.com/anvil-store/anvil/proto/anvil/metadata/v1"
	"google.golang.org/grpc/codes"
)

// Object Lock, with the real service's rules: a version under legal hold
// or unexpired retention is not removed (GOVERNANCE yields to bypass), and
// unexpired retention can only be extended in its mode unless it is
// GOVERNANCE and bypass is set.

const objectLockKind = "object-lock"

func objectLocked() error {
	return reasonErr(codes.PermissionDenied, metadatav1.Reason_REASON_OBJECT_LOCKED, "object locked")
}

func (m *Metadata) retentionActiveLocked(v *metadatav1.ObjectVersion) bool {
	return v.GetLockMode() != "" && v.GetLockRetainUntil().AsTime().After(m.now())
}

// checkRemoveLocked is the real service's removal rule.
func (m *Metadata) checkRemoveLocked(v *metadatav1.ObjectVersion, bypass bool) error {
	if v.GetLegalHold() || m.retentionActiveLocked(v) && (v.GetLockMode() == "COMPLIANCE" || !bypass) {
		return objectLocked()
	}
	return nil
}

// PutObjectRetention implements metadatav1.MetadataServiceServer.
func (m *Metadata) PutObjectRetention(_ context.Context, req *metadatav1.PutObjectRetentionRequest) (*metadatav1.PutObjectRetentionResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	v, err := m.taggedLocked(req.GetBucket(), req.GetKey(), req.GetVersionId())
	if err != nil {
		return nil, err
	}
	if m.retentionActiveLocked(v) {
		extends := req.GetMode() == v.GetLockMode() && req.GetRetainUntil() != nil &&
			!req.GetRetainUntil().AsTime().Before(v.GetLockRetainUntil().AsTime())
		if !extends && (v.GetLockMode() == "COMPLIANCE" || !req.GetBypassGovernanceRetention()) {
			return nil, objectLocked()
		}
	}
	v.LockMode, v.LockRetainUntil = req.GetMode(), req.GetRetainUntil()
	return &metadatav1.PutObjectRetentionResponse{VersionId: v.GetVersionId()}, nil
}

// PutObjectLegalHold implements metadatav1.MetadataServiceServer.
func (m *Metadata) PutObjectLegalHold(_ context.Context, req *metadatav1.PutObjectLegalHoldRequest) (*metadatav1.PutObjectLegalHoldResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(); err != nil {
		return nil, err
	}
	v, err := m.taggedLocked(req.GetBucket(), req.GetKey(), req.GetVersionId())
	if err != nil {
		return nil, err
	}
	v.LegalHold, v.LegalHoldSet = req.GetOn(), true
	return &metadatav1.PutObjectLegalHoldResponse{VersionId: v.GetVersionId()}, nil
}
