// Command anvil-gateway serves the Anvil S3 API.
package main

import (
	"context"
	"log/slog"

	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/services/gateway"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	var cfg gateway.Config
	service.Main("anvil-gateway", &cfg, &cfg.Log, func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error {
		s, err := gateway.New(cfg, log, reg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
