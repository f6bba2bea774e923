package service

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type testConfig struct {
	Name string
	Log  LogConfig
}

func (c *testConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Name, "name", "", "a required name")
	c.Log.RegisterFlags(fs)
}

func (c *testConfig) Validate() error {
	if c.Name == "" {
		return errors.New("name is required")
	}
	return c.Log.Validate()
}

func TestMainCode(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		runErr   error
		wantCode int
		wantRun  bool
		wantOut  string
	}{
		{"runs and stops cleanly", []string{"-name=x"}, nil, ExitOK, true, ""},
		{"help", []string{"-h"}, nil, ExitOK, false, "-name"},
		{"unknown flag", []string{"-nope"}, nil, ExitUsage, false, "flag provided but not defined"},
		{"invalid configuration", nil, nil, ExitUsage, false, "invalid configuration: name is required"},
		{"service fails", []string{"-name=x"}, errors.New("boom"), ExitFailed, true, "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg testConfig
			var out bytes.Buffer
			ran := false
			code := mainCode(context.Background(), "anvil-test", tt.args, &out, &cfg, &cfg.Log,
				func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error {
					ran = true
					if cfg.Name != "x" || log == nil || reg == nil {
						t.Errorf("run got name %q, log %v, reg %v", cfg.Name, log, reg)
					}
					return tt.runErr
				})
			if code != tt.wantCode || ran != tt.wantRun {
				t.Fatalf("code %d ran %v, want %d %v; output:\n%s", code, ran, tt.wantCode, tt.wantRun, out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf("output %q does not contain %q", out.String(), tt.wantOut)
			}
		})
	}
}
