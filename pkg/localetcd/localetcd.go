// Package localetcd runs an embedded single-member etcd server: for the dev
// cluster and for tests.
package localetcd

import (
	"fmt"
	"net/url"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// Server is a running embedded etcd.
type Server struct {
	e        *embed.Etcd
	endpoint string
	once     sync.Once
}

// Start runs etcd with its data in dir, serving clients on 127.0.0.1:clientPort.
func Start(dir string, clientPort, peerPort int) (*Server, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "anvil-dev"
	cu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	pu, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", peerPort))
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	cfg.LogLevel = "error"
	cfg.Logger = "zap"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("etcd not ready after 60s")
	}
	return &Server{e: e, endpoint: cu.Host}, nil
}

// Endpoint returns host:port for clients.
func (s *Server) Endpoint() string { return s.endpoint }

// Close stops the server; calling it again does nothing.
func (s *Server) Close() { s.once.Do(s.e.Close) }

// Err reports a fatal server error.
func (s *Server) Err() <-chan error { return s.e.Err() }
