package service

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestOpsHandler(t *testing.T) {
	var dbErr error
	h := OpsHandler(NewRegistry(), map[string]Check{
		"db": func(context.Context) error { return dbErr },
	})
	get := func(path string) (int, map[string]any) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	if code, _ := get("/"); code != 200 {
		t.Fatalf("liveness: %d", code)
	}
	if code, body := get("/ready"); code != 200 || body["status"] != "ready" {
		t.Fatalf("ready: %d %v", code, body)
	}
	dbErr = errors.New("connection refused")
	code, body := get("/ready")
	if code != 503 {
		t.Fatalf("unready: %d", code)
	}
	failed, _ := body["failed"].(map[string]any)
	if failed["db"] != "connection refused" {
		t.Fatalf("failed checks: %v", body)
	}
	if code, _ := get("/metrics"); code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Fatalf("unknown path: %d", code)
	}
}

func TestGroupStopsAllOnFirstExit(t *testing.T) {
	var g Group
	boom := errors.New("boom")
	g.Add(func(ctx context.Context) error { return boom })
	g.Add(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	if err := g.Run(context.Background()); !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
}
