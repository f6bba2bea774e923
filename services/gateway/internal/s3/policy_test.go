package s3

import (
	"fmt"
	"strings"
	"testing"
)

const testOwner = "AKOWNER"

func policyDoc(effect, principal, action, resource string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":%q,"Principal":%s,"Action":%s,"Resource":%s}]}`,
		effect, principal, action, resource)
}

func TestParseBucketPolicyErrors(t *testing.T) {
	tests := []struct {
		doc, msg string
	}{
		{`false`, "Policies must be valid JSON and the first byte must be '{'"},
		{`{asdf`, "This policy contains invalid Json"},
		{`{}`, "Missing required field Statement"},
		{`{"Statement":[]}`, "Could not parse the policy: Statement is empty!"},
		{`{"Version":"2000-01-01","Statement":[]}`, "The policy must contain a valid version string"},
		{policyDoc("Maybe", `"*"`, `"s3:*"`, `"arn:aws:s3:::b"`), "Invalid effect: Maybe"},
		{policyDoc("Allow", `""`, `"s3:*"`, `"arn:aws:s3:::b"`), "Invalid principal in policy"},
		{policyDoc("Allow", `["*","x"]`, `"s3:*"`, `"arn:aws:s3:::b"`), "Invalid principal in policy"},
		{policyDoc("Allow", `{"AWS":[]}`, `"s3:*"`, `"arn:aws:s3:::b"`), "Invalid principal in policy"},
		{policyDoc("Allow", `"someone"`, `"s3:*"`, `"arn:aws:s3:::b"`), "Invalid principal in policy"},
		{policyDoc("Allow", `"*"`, `"s3:Fly"`, `"arn:aws:s3:::b"`), "Policy has invalid action"},
		{policyDoc("Allow", `"*"`, `"s3:Get-Object"`, `"arn:aws:s3:::b"`), "Policy has invalid action"},
		{policyDoc("Allow", `"*"`, `[]`, `"arn:aws:s3:::b"`), "Policy has invalid action"},
		{policyDoc("Allow", `"*"`, `"s3:*"`, `""`), "Policy has invalid resource"},
		{policyDoc("Allow", `"*"`, `"s3:*"`, `"arn:aws:s3:::other"`), "Policy has invalid resource"},
		{policyDoc("Allow", `"*"`, `"s3:*"`, `"arn:aws:s3:::/b"`), "Policy has invalid resource"},
		{policyDoc("Allow", `"*"`, `"s3:GetObject"`, `"arn:aws:s3:::b"`), "Action does not apply to any resource(s) in statement"},
		{policyDoc("Allow", `"*"`, `"s3:ListBucket"`, `"arn:aws:s3:::b/*"`), "Action does not apply to any resource(s) in statement"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"Nope":{"aws:SourceIp":"1.2.3.4"}}}]}`, "Invalid Condition type : Nope"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"StringEquals":{"s3:Nope":"x"}}}]}`, "Policy has an invalid condition key"},
		{`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"300.1.1.1/40"}}}]}`, "Invalid IP address in Conditions"},
		{"{" + strings.Repeat(" ", maxPolicySize) + "}", "Policies must not exceed 20480 characters"},
	}
	for _, tt := range tests {
		_, e := parseBucketPolicy([]byte(tt.doc), "b", testOwner)
		if e == nil || e.Code != ErrMalformedPolicy || e.Message != tt.msg {
			t.Errorf("%s: got %v, want MalformedPolicy %q", tt.doc, e, tt.msg)
		}
	}
}

func TestEvaluateBucketPolicy(t *testing.T) {
	doc := `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/public/*"]},
		{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/public/secret*"},
		{"Effect":"Deny","Principal":"AKOWNER","Action":"s3:Delete*","Resource":"arn:aws:s3:::b/keep/*"},
		{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/up/*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}`
	p, e := parseBucketPolicy([]byte(doc), "b", testOwner)
	if e != nil {
		t.Fatal(e)
	}
	tests := []struct {
		action, resource string
		owner            bool
		want             decision
	}{
		{"GetObject", "b/public/a.txt", false, allowed},
		{"GetObject", "b/private/a.txt", false, noDecision},
		{"ListBucket", "b", false, allowed},
		{"PutObject", "b/public/a.txt", false, noDecision},
		{"GetObject", "b/public/secret.txt", false, denied},
		{"GetObject", "b/public/secret.txt", true, denied},
		{"DeleteObject", "b/keep/x", true, denied},
		{"DeleteObject", "b/keep/x", false, noDecision},
		{"PutObject", "b/up/x", false, noDecision}, // not from 10.0.0.0/8
	}
	for _, tt := range tests {
		if got := p.evaluate(requestContext{action: tt.action, resource: tt.resource, owner: tt.owner, keys: map[string]string{"aws:sourceip": "192.0.2.1"}}); got != tt.want {
			t.Errorf("%s %s owner=%v: %v, want %v", tt.action, tt.resource, tt.owner, got, tt.want)
		}
	}
	if !p.isPublic() {
		t.Error("policy allowing * is not public")
	}
	var none *policy
	if none.evaluate(requestContext{action: "GetObject", resource: "b/x"}) != noDecision {
		t.Error("no policy decided")
	}
}

func TestPolicyConditions(t *testing.T) {
	stmt := func(effect, cond string) string {
		return `{"Statement":[{"Effect":"` + effect + `","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":` + cond + `}]}`
	}
	from := func(ip string, extra ...string) requestContext {
		keys := map[string]string{"aws:sourceip": ip, "aws:securetransport": "false"}
		for i := 0; i+1 < len(extra); i += 2 {
			keys[extra[i]] = extra[i+1]
		}
		return requestContext{action: "GetObject", resource: "b/k", keys: keys}
	}
	tests := []struct {
		doc  string
		rc   requestContext
		want decision
	}{
		{stmt("Allow", `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.7"]}}`), from("10.9.9.9"), allowed},
		{stmt("Allow", `{"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.7"]}}`), from("192.0.2.7"), allowed},
		{stmt("Allow", `{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`), from("192.0.2.8"), noDecision},
		{stmt("Deny", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`), from("192.0.2.8"), denied},
		{stmt("Deny", `{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`), from("10.0.0.1"), noDecision},
		{stmt("Deny", `{"Bool":{"aws:SecureTransport":false}}`), from("10.0.0.1"), denied},
		{stmt("Deny", `{"Bool":{"aws:SecureTransport":"true"}}`), from("10.0.0.1"), noDecision},
		{stmt("Allow", `{"StringLike":{"aws:UserAgent":"curl/*"}}`), from("1.1.1.1", "aws:useragent", "curl/8.0"), allowed},
		{stmt("Allow", `{"StringEquals":{"aws:Referer":"x"}}`), from("1.1.1.1"), noDecision},
		{stmt("Allow", `{"StringNotEquals":{"aws:Referer":"x"}}`), from("1.1.1.1"), allowed},
		{stmt("Allow", `{"StringEqualsIfExists":{"aws:Referer":"x"}}`), from("1.1.1.1"), allowed},
		{stmt("Allow", `{"Null":{"aws:Referer":"true"}}`), from("1.1.1.1"), allowed},
		{stmt("Allow", `{"NumericLessThan":{"s3:max-keys":"10"}}`), from("1.1.1.1"), noDecision},
		{stmt("Deny", `{"NumericLessThan":{"s3:max-keys":"10"}}`), from("1.1.1.1"), denied},
		{stmt("Allow", `{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"},"StringLike":{"aws:UserAgent":"curl/*"}}`), from("10.0.0.1", "aws:useragent", "wget"), noDecision},
	}
	for _, tt := range tests {
		p, e := parseBucketPolicy([]byte(tt.doc), "b", testOwner)
		if e != nil {
			t.Fatalf("%s: %v", tt.doc, e)
		}
		if got := p.evaluate(tt.rc); got != tt.want {
			t.Errorf("%s with %v: %v, want %v", tt.doc, tt.rc.keys, got, tt.want)
		}
	}
	p, _ := parseBucketPolicy([]byte(stmt("Allow", `{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`)), "b", testOwner)
	if p.isPublic() {
		t.Error("a conditional Allow counted as public")
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a?c", "abc", true}, {"a?c", "ac", false},
		{"*Object*", "GetObjectTagging", true}, {"b/*", "b", false}, {"**a", "bba", true}, {"a*b*c", "aXbYc", true}, {"a*b*c", "aXcYb", false},
	} {
		if got := globMatch(tt.p, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}

func FuzzParseBucketPolicy(f *testing.F) {
	f.Add([]byte(policyDoc("Allow", `"*"`, `"s3:GetObject"`, `"arn:aws:s3:::b/*"`)), "GetObject", "b/x")
	f.Add([]byte(`{"Statement":{"Effect":"Deny","Principal":{"AWS":["AKOWNER"]},"Action":"s3:*","Resource":"arn:aws:s3:::b*"}}`), "ListBucket", "b")
	f.Add([]byte(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":{"IpAddress":{"aws:SourceIp":"1.2.3.4/32"}}}]}`), "GetObject", "b/y")
	f.Fuzz(func(t *testing.T, data []byte, action, resource string) {
		p, e := parseBucketPolicy(data, "b", testOwner)
		if (p == nil) == (e == nil) {
			t.Fatalf("policy %v and error %v", p, e)
		}
		if e != nil {
			if e.HTTPStatus != 400 && e.HTTPStatus != 501 {
				t.Fatalf("status %d", e.HTTPStatus)
			}
			return
		}
		for _, owner := range []bool{false, true} {
			_ = p.evaluate(requestContext{action: action, resource: resource, owner: owner,
				keys: map[string]string{"aws:sourceip": "10.1.2.3", "aws:securetransport": "false", "s3:prefix": resource}})
		}
		_ = p.isPublic()
	})
}
