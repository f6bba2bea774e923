package s3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
)

// Bucket policies: parsing and validation (answering MalformedPolicy with
// AWS's messages) and evaluation. Everything about what a policy means is
// in this file.

// maxPolicySize is AWS's limit on a bucket policy.
const maxPolicySize = 20 << 10

// s3Actions are the policy actions, true for those on objects
// (arn:aws:s3:::bucket/key), false for those on buckets.
var s3Actions = map[string]bool{
	"AbortMultipartUpload": true, "BypassGovernanceRetention": true, "DeleteObject": true,
	"DeleteObjectTagging": true, "DeleteObjectVersion": true, "DeleteObjectVersionTagging": true,
	"GetObject": true, "GetObjectAcl": true, "GetObjectAttributes": true, "GetObjectLegalHold": true,
	"GetObjectRetention": true, "GetObjectTagging": true, "GetObjectVersion": true,
	"GetObjectVersionAcl": true, "GetObjectVersionAttributes": true, "GetObjectVersionTagging": true,
	"ListMultipartUploadParts": true, "PutObject": true, "PutObjectAcl": true,
	"PutObjectLegalHold": true, "PutObjectRetention": true, "PutObjectTagging": true,
	"PutObjectVersionAcl": true, "PutObjectVersionTagging": true, "RestoreObject": true,

	"CreateBucket": false, "DeleteBucket": false, "DeleteBucketPolicy": false,
	"DeleteBucketWebsite": false, "DeleteBucketOwnershipControls": false, "GetBucketAcl": false,
	"GetBucketCORS": false, "GetBucketLocation": false, "GetBucketLogging": false,
	"GetBucketNotification": false, "GetBucketObjectLockConfiguration": false,
	"GetBucketOwnershipControls": false, "GetBucketPolicy": false, "GetBucketPolicyStatus": false,
	"GetBucketPublicAccessBlock": false, "GetBucketRequestPayment": false, "GetBucketTagging": false,
	"GetBucketVersioning": false, "GetBucketWebsite": false, "GetLifecycleConfiguration": false,
	"GetEncryptionConfiguration": false, "GetReplicationConfiguration": false,
	"GetAccelerateConfiguration": false, "ListBucket": false, "ListBucketVersions": false,
	"ListBucketMultipartUploads": false, "PutBucketAcl": false, "PutBucketCORS": false,
	"PutBucketLogging": false, "PutBucketNotification": false, "PutBucketObjectLockConfiguration": false,
	"PutBucketOwnershipControls": false, "PutBucketPolicy": false, "PutBucketPublicAccessBlock": false,
	"PutBucketRequestPayment": false, "PutBucketTagging": false, "PutBucketVersioning": false,
	"PutBucketWebsite": false, "PutLifecycleConfiguration": false, "PutEncryptionConfiguration": false,
	"PutReplicationConfiguration": false, "PutAccelerateConfiguration": false,
}

// conditionOperators are the IAM condition operators (without IfExists
// and ForAllValues:/ForAnyValue:).
var conditionOperators = map[string]bool{
	"StringEquals": true, "StringNotEquals": true, "StringEqualsIgnoreCase": true,
	"StringNotEqualsIgnoreCase": true, "StringLike": true, "StringNotLike": true,
	"NumericEquals": true, "NumericNotEquals": true, "NumericLessThan": true,
	"NumericLessThanEquals": true, "NumericGreaterThan": true, "NumericGreaterThanEquals": true,
	"DateEquals": true, "DateNotEquals": true, "DateLessThan": true, "DateLessThanEquals": true,
	"DateGreaterThan": true, "DateGreaterThanEquals": true, "Bool": true, "BinaryEquals": true,
	"IpAddress": true, "NotIpAddress": true, "ArnEquals": true, "ArnLike": true,
	"ArnNotEquals": true, "ArnNotLike": true, "Null": true,
}

// conditionKeys are the condition keys a bucket policy may name; keys
// ending in "/" take a suffix (a tag key).
var conditionKeys = []string{
	"aws:SourceIp", "aws:SecureTransport", "aws:UserAgent", "aws:Referer", "aws:CurrentTime",
	"aws:EpochTime", "aws:PrincipalArn", "aws:PrincipalAccount", "aws:PrincipalType",
	"aws:userid", "aws:username", "aws:SourceVpc", "aws:SourceVpce", "aws:RequestedRegion",
	"aws:TagKeys", "aws:ViaAWSService", "aws:CalledVia", "aws:MultiFactorAuthPresent",
	"aws:MultiFactorAuthAge", "aws:TokenIssueTime", "aws:SourceArn", "aws:SourceAccount",
	"aws:PrincipalTag/", "aws:RequestTag/", "aws:ResourceTag/",
	"s3:prefix", "s3:delimiter", "s3:max-keys", "s3:x-amz-acl", "s3:VersionId",
	"s3:x-amz-content-sha256", "s3:x-amz-copy-source", "s3:x-amz-metadata-directive",
	"s3:x-amz-server-side-encryption", "s3:x-amz-storage-class", "s3:x-amz-grant-read",
	"s3:x-amz-grant-write", "s3:x-amz-grant-read-acp", "s3:x-amz-grant-write-acp",
	"s3:x-amz-grant-full-control", "s3:authType", "s3:signatureversion", "s3:signatureAge",
	"s3:TlsVersion", "s3:object-lock-mode", "s3:object-lock-retain-until-date",
	"s3:object-lock-legal-hold", "s3:object-lock-remaining-retention-days", "s3:locationconstraint",
	"s3:ExistingObjectTag/", "s3:RequestObjectTag/", "s3:RequestObjectTagKeys",
	"s3:x-amz-object-ownership",
}

// policy is a parsed, validated bucket policy.
type policy struct {
	statements []statement
}

type statement struct {
	allow bool
	// anyone is Principal "*"; owner names the bucket owner.
	anyone, owner bool
	actions       []string // patterns after "s3:" ("*" for all)
	resources     []string // patterns after "arn:aws:s3:::"
	conditions    []condition
}

// condition is one operator/key test of a Condition block.
type condition struct {
	op        string // the operator without IfExists or a set qualifier
	qualified bool   // ForAllValues:/ForAnyValue: (not evaluated)
	ifExists  bool
	key       string // lower case
	values    []string
}

func malformedPolicy(msg string) *Error { return newError(ErrMalformedPolicy, msg) }

// oneOrMany decodes a JSON string or array of strings.
func oneOrMany(raw json.RawMessage) ([]string, bool) {
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, true
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err == nil {
		return many, true
	}
	return nil, false
}

// parseBucketPolicy validates a bucket policy for bucket; ownerID is the
// only account a principal may name besides "*".
func parseBucketPolicy(data []byte, bucket, ownerID string) (*policy, *Error) {
	if len(data) > maxPolicySize {
		return nil, malformedPolicy("Policies must not exceed 20480 characters")
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, malformedPolicy("Policies must be valid JSON and the first byte must be '{'")
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &doc); err != nil {
		return nil, malformedPolicy("This policy contains invalid Json")
	}
	if raw, ok := doc["Version"]; ok {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil || (v != "2012-10-17" && v != "2008-10-17") {
			return nil, malformedPolicy("The policy must contain a valid version string")
		}
	}
	raw, ok := doc["Statement"]
	if !ok {
		return nil, malformedPolicy("Missing required field Statement")
	}
	var stmts []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &stmts); err != nil {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, malformedPolicy("This policy contains invalid Json")
		}
		stmts = []map[string]json.RawMessage{one}
	}
	if len(stmts) == 0 {
		return nil, malformedPolicy("Could not parse the policy: Statement is empty!")
	}
	p := &policy{}
	for _, s := range stmts {
		st, e := parseStatement(s, bucket, ownerID)
		if e != nil {
			return nil, e
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parseStatement(s map[string]json.RawMessage, bucket, ownerID string) (statement, *Error) {
	var st statement
	for _, k := range []string{"NotPrincipal", "NotAction", "NotResource"} {
		if _, ok := s[k]; ok {
			return st, errorf(ErrNotImplemented, "%s is not supported in bucket policies.", k)
		}
	}
	var effect string
	if err := json.Unmarshal(s["Effect"], &effect); err != nil && s["Effect"] != nil {
		return st, malformedPolicy("Invalid effect: " + string(s["Effect"]))
	}
	switch effect {
	case "Allow":
		st.allow = true
	case "Deny":
	case "":
		return st, malformedPolicy("Missing required field Effect")
	default:
		return st, malformedPolicy("Invalid effect: " + effect)
	}
	if e := st.parsePrincipal(s["Principal"], ownerID); e != nil {
		return st, e
	}
	actions, ok := oneOrMany(s["Action"])
	if !ok || len(actions) == 0 {
		return st, malformedPolicy("Policy has invalid action")
	}
	for _, a := range actions {
		pat, ok := validAction(a)
		if !ok {
			return st, malformedPolicy("Policy has invalid action")
		}
		st.actions = append(st.actions, pat)
	}
	resources, ok := oneOrMany(s["Resource"])
	if !ok || len(resources) == 0 {
		return st, malformedPolicy("Policy has invalid resource")
	}
	for _, r := range resources {
		rest, ok := strings.CutPrefix(r, "arn:aws:s3:::")
		bucketPart, _, _ := strings.Cut(rest, "/")
		if !ok || bucketPart == "" || !globMatch(bucketPart, bucket) {
			return st, malformedPolicy("Policy has invalid resource")
		}
		st.resources = append(st.resources, rest)
	}
	if !st.actionsApply() {
		return st, malformedPolicy("Action does not apply to any resource(s) in statement")
	}
	if raw, ok := s["Condition"]; ok {
		conds, e := parseConditions(raw)
		if e != nil {
			return st, e
		}
		st.conditions = conds
	}
	return st, nil
}

// parsePrincipal accepts "*", the owner, or {"AWS": those}.
func (st *statement) parsePrincipal(raw json.RawMessage, ownerID string) *Error {
	bad := malformedPolicy("Invalid principal in policy")
	if raw == nil {
		return malformedPolicy("Missing required field Principal")
	}
	names, ok := oneOrMany(raw)
	if !ok {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil || len(obj) != 1 || obj["AWS"] == nil {
			return bad
		}
		if names, ok = oneOrMany(obj["AWS"]); !ok {
			return bad
		}
	}
	if len(names) == 0 {
		return bad
	}
	for _, n := range names {
		switch {
		case n == "*" && len(names) == 1:
			st.anyone = true
		case n == ownerID || n == "arn:aws:iam::"+ownerID+":root":
			st.owner = true
		default:
			return bad
		}
	}
	return nil
}

// validAction checks "*" or "s3:<pattern>" (letters, '*' and '?') that
// names at least one action, and returns the pattern.
func validAction(a string) (string, bool) {
	if a == "*" {
		return "*", true
	}
	pat, ok := strings.CutPrefix(a, "s3:")
	if !ok || pat == "" {
		return "", false
	}
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '*' || c == '?') {
			return "", false
		}
	}
	for name := range s3Actions {
		if globMatch(pat, name) {
			return pat, true
		}
	}
	return "", false
}

// actionsApply reports whether some action the statement names applies to
// some resource it names.
func (st *statement) actionsApply() bool {
	var bucketRes, objectRes bool
	for _, r := range st.resources {
		b, _, hasKey := strings.Cut(r, "/")
		objectRes = objectRes || hasKey || strings.Contains(b, "*")
		bucketRes = bucketRes || !hasKey
	}
	for _, pat := range st.actions {
		for name, onObject := range s3Actions {
			if globMatch(pat, name) && (onObject && objectRes || !onObject && bucketRes) {
				return true
			}
		}
	}
	return false
}

// conditionValues decodes a condition's value: a scalar or an array of
// scalars (strings, booleans, numbers), as strings.
func conditionValues(raw json.RawMessage) ([]string, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false
	}
	list, isList := v.([]any)
	if !isList {
		list = []any{v}
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		switch x := x.(type) {
		case string:
			out = append(out, x)
		case bool, float64:
			out = append(out, fmt.Sprint(x))
		default:
			return nil, false
		}
	}
	return out, true
}

func parseConditions(raw json.RawMessage) ([]condition, *Error) {
	var conds map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &conds); err != nil {
		return nil, malformedPolicy("This policy contains invalid Json")
	}
	var out []condition
	for op, kv := range conds {
		c := condition{op: op}
		if q, rest, ok := strings.Cut(op, ":"); ok {
			if q != "ForAllValues" && q != "ForAnyValue" {
				return nil, malformedPolicy("Invalid Condition type : " + op)
			}
			c.op, c.qualified = rest, true
		}
		if b, ok := strings.CutSuffix(c.op, "IfExists"); ok && b != "Null" {
			c.op, c.ifExists = b, true
		}
		if !conditionOperators[c.op] {
			return nil, malformedPolicy("Invalid Condition type : " + op)
		}
		for key, val := range kv {
			if !knownConditionKey(key) {
				return nil, malformedPolicy("Policy has an invalid condition key")
			}
			vals, ok := conditionValues(val)
			if !ok {
				return nil, malformedPolicy("This policy contains invalid Json")
			}
			if strings.EqualFold(key, "aws:SourceIp") {
				for _, v := range vals {
					if _, _, err := net.ParseCIDR(v); err != nil && net.ParseIP(v) == nil {
						return nil, malformedPolicy("Invalid IP address in Conditions")
					}
				}
			}
			cc := c
			cc.key, cc.values = strings.ToLower(key), vals
			out = append(out, cc)
		}
	}
	return out, nil
}

func knownConditionKey(key string) bool {
	for _, k := range conditionKeys {
		if strings.HasSuffix(k, "/") {
			if len(key) > len(k) && strings.EqualFold(key[:len(k)], k) {
				return true
			}
		} else if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// globMatch matches s against a pattern with '*' (any run) and '?' (one
// character), iteratively so that no pattern costs more than O(len²).
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// decision is a policy's answer for one request.
type decision int

const (
	noDecision decision = iota
	allowed
	denied
)

// requestContext is what a policy is evaluated against.
type requestContext struct {
	action   string // s3 action name
	resource string // the part after "arn:aws:s3:::"
	owner    bool   // the bucket owner (else anonymous)
	// keys holds the condition keys the request has (lower case):
	// aws:sourceip, aws:securetransport, aws:useragent, aws:referer,
	// s3:prefix, ...
	keys map[string]string
}

// evaluate answers whether the policy allows or denies the request. An
// explicit Deny wins.
func (p *policy) evaluate(rc requestContext) decision {
	if p == nil {
		return noDecision
	}
	d := noDecision
	for _, st := range p.statements {
		if !(st.anyone || rc.owner && st.owner) || !st.matches(rc.action, rc.resource) {
			continue
		}
		if !st.conditionsHold(rc, !st.allow) {
			continue
		}
		if !st.allow {
			return denied
		}
		d = allowed
	}
	return d
}

// conditionsHold reports whether every condition holds. A condition Anvil
// cannot evaluate (set qualifiers, numeric, date, ARN and binary
// operators) counts as holding for a Deny and not for an Allow: the
// cautious reading either way.
func (st *statement) conditionsHold(rc requestContext, deny bool) bool {
	for _, c := range st.conditions {
		held, known := c.holds(rc)
		if !known {
			held = deny
		}
		if !held {
			return false
		}
	}
	return true
}

// holds evaluates one condition; known is false when it cannot be.
func (c condition) holds(rc requestContext) (held, known bool) {
	if c.qualified {
		return false, false
	}
	v, present := rc.keys[c.key]
	if c.op == "Null" {
		return len(c.values) == 1 && strings.EqualFold(c.values[0], "true") != present, true
	}
	var match func(v, want string) bool
	switch strings.Replace(c.op, "Not", "", 1) {
	case "StringEquals":
		match = func(v, w string) bool { return v == w }
	case "StringEqualsIgnoreCase", "Bool":
		match = strings.EqualFold
	case "StringLike":
		match = func(v, w string) bool { return globMatch(w, v) }
	case "IpAddress":
		match = ipMatch
	default:
		return false, false
	}
	negated := strings.Contains(c.op, "Not")
	if !present {
		// AWS: a missing key fails a matching operator and satisfies a
		// negated one; IfExists makes it satisfy both.
		return c.ifExists || negated, true
	}
	matched := false
	for _, w := range c.values {
		if match(v, w) {
			matched = true
			break
		}
	}
	return matched != negated, true
}

// ipMatch reports whether address v is want (an address or a CIDR block).
func ipMatch(v, want string) bool {
	ip := net.ParseIP(v)
	if ip == nil {
		return false
	}
	if _, n, err := net.ParseCIDR(want); err == nil {
		return n.Contains(ip)
	}
	return ip.Equal(net.ParseIP(want))
}

func (st *statement) matches(action, resource string) bool {
	actionOK := false
	for _, pat := range st.actions {
		if globMatch(pat, action) {
			actionOK = true
			break
		}
	}
	if !actionOK {
		return false
	}
	for _, r := range st.resources {
		if globMatch(r, resource) {
			return true
		}
	}
	return false
}

// isPublic reports whether the policy allows anyone anything without a
// condition (GetBucketPolicyStatus).
func (p *policy) isPublic() bool {
	for _, st := range p.statements {
		if st.allow && st.anyone && len(st.conditions) == 0 {
			return true
		}
	}
	return false
}
