package membership

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exports what a process watching the cluster sees of it, read
// from its View at scrape time (in memory, no etcd round trip):
//
//	anvil_<service>_membership_peers{role, region}          live members
//	anvil_<service>_membership_changes_total{role, event}   joins and leaves (churn)
//	anvil_<service>_cluster_capacity_bytes{region}          storage nodes' capacity, summed
//	anvil_<service>_cluster_free_bytes{region}              storage nodes' free bytes, summed
type Metrics struct {
	view     *View
	peers    *prometheus.Desc
	capacity *prometheus.Desc
	free     *prometheus.Desc
	changes  *prometheus.CounterVec
}

// MetricNames returns the names of service's membership metrics: peers,
// capacity, free bytes and changes.
func MetricNames(service string) []string {
	p := "anvil_" + service + "_"
	return []string{p + "membership_peers", p + "cluster_capacity_bytes", p + "cluster_free_bytes", p + "membership_changes_total"}
}

// NewMetrics registers the membership metrics of service (gateway, worker)
// with reg. Call Watch with the View once it exists, and Observe from the
// View's event callback.
func NewMetrics(reg prometheus.Registerer, service string) *Metrics {
	n := MetricNames(service)
	m := &Metrics{
		peers:    prometheus.NewDesc(n[0], "Live cluster members seen by this process, by role and region.", []string{"role", "region"}, nil),
		capacity: prometheus.NewDesc(n[1], "Capacity of the live storage nodes, summed by region.", []string{"region"}, nil),
		free:     prometheus.NewDesc(n[2], "Free bytes of the live storage nodes, summed by region.", []string{"region"}, nil),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: n[3],
			Help: "Members joining and leaving the cluster, as seen by this process, by role and event (join, leave).",
		}, []string{"role", "event"}),
	}
	reg.MustRegister(m, m.changes)
	return m
}

// Watch sets the View the gauges are read from.
func (m *Metrics) Watch(v *View) { m.view = v }

// Observe counts one join or leave.
func (m *Metrics) Observe(joined bool, member Member) {
	event := "leave"
	if joined {
		event = "join"
	}
	m.changes.WithLabelValues(member.Role, event).Inc()
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.peers
	ch <- m.capacity
	ch <- m.free
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	if m.view == nil {
		return
	}
	type key struct{ role, region string }
	peers := map[key]int{}
	capacity, free := map[string]uint64{}, map[string]uint64{}
	for _, mem := range m.view.Members("", "") {
		peers[key{mem.Role, mem.Region}]++
		if mem.Role == RoleStorageNode {
			capacity[mem.Region] += mem.CapacityBytes
			free[mem.Region] += mem.FreeBytes
		}
	}
	for k, n := range peers {
		ch <- prometheus.MustNewConstMetric(m.peers, prometheus.GaugeValue, float64(n), k.role, k.region)
	}
	for region, c := range capacity {
		ch <- prometheus.MustNewConstMetric(m.capacity, prometheus.GaugeValue, float64(c), region)
		ch <- prometheus.MustNewConstMetric(m.free, prometheus.GaugeValue, float64(free[region]), region)
	}
}
