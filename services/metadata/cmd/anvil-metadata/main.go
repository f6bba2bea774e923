// Command anvil-metadata runs the metadata service, the only Postgres client.
package main

import (
	"context"
	"log/slog"

	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/services/metadata"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	var cfg metadata.Config
	service.Main("anvil-metadata", &cfg, &cfg.Log, func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error {
		s, err := metadata.New(cfg, log, reg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
