package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/anvil-store/anvil/pkg/requestid"
)

// Group runs actors until the first one returns, then cancels the rest and
// waits for them. It is the one owner of a process's goroutines.
type Group struct {
	actors []func(context.Context) error
}

// Add registers an actor. It must return soon after its context is done.
func (g *Group) Add(actor func(ctx context.Context) error) {
	g.actors = append(g.actors, actor)
}

// Run starts every actor and returns the first error that is not a
// cancellation.
func (g *Group) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(g.actors))
	var wg sync.WaitGroup
	for i, actor := range g.actors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = actor(ctx)
			cancel()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// SignalContext returns a context cancelled on SIGINT or SIGTERM.
func SignalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// LogConfig selects the log level and format of a process.
type LogConfig struct {
	Level  string
	Format string
}

// RegisterFlags registers log.level and log.format.
func (c *LogConfig) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Level, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.Format, "log.format", "json", "log format: json or text")
}

// Validate checks the log settings.
func (c *LogConfig) Validate() error {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.Level)); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	if c.Format != "json" && c.Format != "text" {
		return fmt.Errorf("log.format: want json or text, got %q", c.Format)
	}
	return nil
}

// NewLogger builds a structured logger writing to w.
func (c *LogConfig) NewLogger(w io.Writer, svc string) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToLower(c.Level)))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	// Lines logged with a request's context name its id.
	return slog.New(requestid.LogHandler{Handler: h}).With("service", svc)
}
