// Command anvil-worker runs one member of the worker fleet.
package main

import (
	"context"
	"log/slog"

	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/services/worker"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	var cfg worker.Config
	service.Main("anvil-worker", &cfg, &cfg.Log, func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error {
		s, err := worker.New(cfg, log, reg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
