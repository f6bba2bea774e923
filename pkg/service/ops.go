// Package service holds the plumbing every Anvil process shares: the ops HTTP
// server (liveness, readiness, metrics), gRPC serving with graceful stop,
// logging and the process lifecycle.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports whether one dependency of the process answers.
type Check func(ctx context.Context) error

// ReadyTimeout bounds how long one /ready request waits for its checks.
const ReadyTimeout = 2 * time.Second

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors every service exports.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// OpsHandler serves "/" (liveness: 200 while the process runs), "/ready"
// (200 only when every check passes, else 503 with a JSON body naming the
// failed checks) and "/metrics". It never sits on the S3 port.
func OpsHandler(reg prometheus.Gatherer, checks map[string]Check) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		failed := runChecks(ctx, checks)
		body := map[string]any{"status": "ready"}
		code := http.StatusOK
		if len(failed) > 0 {
			body = map[string]any{"status": "unready", "failed": failed}
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: nil}))
	return mux
}

// runChecks runs all checks in parallel and returns the failures by name.
func runChecks(ctx context.Context, checks map[string]Check) map[string]string {
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Strings(names)
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := map[string]string{}
	for _, name := range names {
		wg.Add(1)
		go func(name string, check Check) {
			defer wg.Done()
			if err := check(ctx); err != nil {
				mu.Lock()
				failed[name] = err.Error()
				mu.Unlock()
			}
		}(name, checks[name])
	}
	wg.Wait()
	return failed
}

// ServeHTTP serves h on lis until ctx is done, then shuts down gracefully.
func ServeHTTP(ctx context.Context, lis net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if serveErr := <-errc; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return err
}
