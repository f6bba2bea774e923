// Package metaclient dials the metadata service: one gRPC connection
// balancing round robin over every configured address, with a deadline on
// every call.
package metaclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// ParseAddrs splits a comma-separated address list, dropping blanks.
func ParseAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// Dial returns a connection spreading calls round robin over addrs. Calls
// whose context has no deadline get timeout. opts come after Dial's own.
func Dial(addrs []string, timeout time.Duration, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	if len(addrs) == 0 {
		return nil, errors.New("metaclient: no metadata addresses")
	}
	// A manual resolver per connection: no process-wide registration.
	r := manual.NewBuilderWithScheme("anvil-metadata")
	state := resolver.State{}
	for _, a := range addrs {
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	r.InitialState(state)
	cc, err := grpc.NewClient(r.Scheme()+":///metadata", append([]grpc.DialOption{
		grpc.WithResolvers(r),
		// Plaintext inside the cluster for now; TLS comes with the auth issue.
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.WithUnaryInterceptor(deadline(timeout)),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("dial metadata %s: %w", strings.Join(addrs, ","), err)
	}
	return cc, nil
}

// deadline gives every unary call without a deadline the default timeout.
func deadline(timeout time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok && timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}
