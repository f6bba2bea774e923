// Package placement chooses the storage nodes of an object's shards by weighted rendezvous
// (highest random weight) hashing, spread over zones.
//
// Every node gets a score for the object from a hash of (object id, node id), so a node's
// arrival or departure only moves the shards it wins or held, and every gateway computes the
// same placement from the same view of the members without talking to the others.
package placement

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/anvil-store/anvil/pkg/membership"
)

// ErrNotEnoughNodes means fewer nodes were offered than shards asked for.
var ErrNotEnoughNodes = errors.New("placement: not enough nodes")

// Node is a candidate storage node.
type Node struct {
	ID     string
	Zone   string
	Weight float64 // relative capacity (total bytes); <= 0 counts as 1
}

// Pick returns n distinct nodes for objectID, in shard order.
//
// Nodes are scored with the logarithmic method, score = -w / ln(h) with h a uniform hash of
// (objectID, node ID) in (0, 1), which makes a node win with probability proportional to its
// weight. The picks are then spread over zones: each pick takes the best-scored remaining node
// of a zone with the fewest picks so far, ties broken by score. The result depends only on the
// set of nodes, not their order. Node IDs must be unique and not empty.
func Pick(objectID string, nodes []Node, n int) ([]Node, error) {
	if n < 0 {
		return nil, fmt.Errorf("placement: negative node count %d", n)
	}
	if len(nodes) < n {
		return nil, fmt.Errorf("need %d, have %d: %w", n, len(nodes), ErrNotEnoughNodes)
	}
	scored := make([]scoredNode, len(nodes))
	for i, node := range nodes {
		if node.ID == "" {
			return nil, errors.New("placement: node with empty id")
		}
		scored[i] = scoredNode{Node: node, score: score(objectID, node)}
	}
	slices.SortFunc(scored, func(a, b scoredNode) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID) // equal scores only from equal hashes: keep it total
	})
	for i := 1; i < len(scored); i++ {
		if scored[i].ID == scored[i-1].ID {
			return nil, fmt.Errorf("placement: duplicate node id %q", scored[i].ID)
		}
	}
	if n == 0 {
		return []Node{}, nil
	}

	// Zones in order of their best node, each holding its nodes best first.
	var zones []*zone
	byName := map[string]*zone{}
	for _, sn := range scored {
		z := byName[sn.Zone]
		if z == nil {
			z = &zone{}
			byName[sn.Zone] = z
			zones = append(zones, z)
		}
		z.nodes = append(z.nodes, sn)
	}
	picked := make([]Node, 0, n)
	for len(picked) < n {
		var best *zone
		for _, z := range zones {
			if len(z.nodes) == 0 {
				continue
			}
			if best == nil || z.picks < best.picks ||
				z.picks == best.picks && better(z.nodes[0], best.nodes[0]) {
				best = z
			}
		}
		picked = append(picked, best.nodes[0].Node)
		best.nodes = best.nodes[1:]
		best.picks++
	}
	return picked, nil
}

type scoredNode struct {
	Node
	score float64
}

type zone struct {
	nodes []scoredNode // remaining, best first
	picks int
}

func better(a, b scoredNode) bool {
	return a.score > b.score || a.score == b.score && a.ID < b.ID
}

// score is the node's weighted rendezvous score for the object; higher wins.
func score(objectID string, node Node) float64 {
	w := node.Weight
	if !(w > 0) || math.IsInf(w, 1) { // also catches NaN
		w = 1
	}
	return -w / math.Log(unitHash(objectID, node.ID))
}

// unitHash maps (objectID, nodeID) uniformly into the open interval (0, 1). The object id is
// length-prefixed so that no two pairs hash the same input.
func unitHash(objectID, nodeID string) float64 {
	h := sha256.New()
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], uint64(len(objectID)))
	h.Write(l[:])
	h.Write([]byte(objectID))
	h.Write([]byte(nodeID))
	var sum [sha256.Size]byte
	x := binary.BigEndian.Uint64(h.Sum(sum[:0]))
	// 53 random bits, offset by half a step: never 0, never 1.
	return (float64(x>>11) + 0.5) / (1 << 53)
}

// Candidates turns live storage nodes into placement candidates for n
// shards, weighted by capacity (a stable weight: the gateway placing a new
// object and the rebalancer checking an old one must rank alike). Draining
// nodes are left out while at least n others remain.
func Candidates(live []membership.Member, n int) []Node {
	out := make([]Node, 0, len(live))
	for _, m := range live {
		if !m.Draining {
			out = append(out, Node{ID: m.ID, Zone: m.Zone, Weight: float64(m.CapacityBytes)})
		}
	}
	if len(out) >= n {
		return out
	}
	out = out[:0]
	for _, m := range live {
		out = append(out, Node{ID: m.ID, Zone: m.Zone, Weight: float64(m.CapacityBytes)})
	}
	return out
}
