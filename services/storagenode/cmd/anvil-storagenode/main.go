// Command anvil-storagenode runs an Anvil storage node.
package main

import (
	"context"
	"log/slog"

	"github.com/anvil-store/anvil/pkg/service"
	"github.com/anvil-store/anvil/services/storagenode"
	"github.com/prometheus/client_golang/prometheus"
)

func main() {
	var cfg storagenode.Config
	service.Main("anvil-storagenode", &cfg, &cfg.Log, func(ctx context.Context, log *slog.Logger, reg *prometheus.Registry) error {
		s, err := storagenode.New(cfg, log, reg)
		if err != nil {
			return err
		}
		return s.Run(ctx)
	})
}
