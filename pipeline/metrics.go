package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vipyrsec/dragonfly-client-go/scan"
)

// Metrics are the daemon's Prometheus series. Their names are fixed
// (docs/operating.md § Metrics) so that dashboards and alerts stay valid.
type Metrics struct {
	JobsLeased         prometheus.Counter
	Results            *prometheus.CounterVec // outcome: success, failure
	JobFailures        *prometheus.CounterVec // class: too large, malformed, ...
	ResultsRejected    *prometheus.CounterVec // status: 404, 409, 422, ...
	JobsAbandoned      *prometheus.CounterVec // cause: download, drain, lease, rules
	BytesDownloaded    prometheus.Counter
	BytesScanned       prometheus.Counter
	StageDuration      *prometheus.HistogramVec // stage: lease, download, match, submit
	JobsInFlight       prometheus.Gauge
	RulesInfo          *prometheus.GaugeVec   // hash
	BuildInfo          *prometheus.GaugeVec   // version, libyara
	CredentialRenewals *prometheus.CounterVec // outcome: ok, error
	MainframeErrors    *prometheus.CounterVec // call: lease, submit, rules
}

// NewMetrics creates the series and registers them with reg (nil: not
// registered, for tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		JobsLeased: prometheus.NewCounter(prometheus.CounterOpts{Name: "dragonfly_jobs_leased_total",
			Help: "Jobs received from the mainframe."}),
		Results: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dragonfly_results_total",
			Help: "Results the mainframe accepted, by outcome (success or failure)."}, []string{"outcome"}),
		JobFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dragonfly_job_failures_total",
			Help: "Failure results sent, by the class their reason starts with."}, []string{"class"}),
		ResultsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dragonfly_results_rejected_total",
			Help: "Results the mainframe refused for good, by HTTP status."}, []string{"status"}),
		JobsAbandoned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dragonfly_jobs_abandoned_total",
			Help: "Jobs left for the mainframe to lease again, by cause."}, []string{"cause"}),
		BytesDownloaded: prometheus.NewCounter(prometheus.CounterOpts{Name: "dragonfly_bytes_downloaded_total",
			Help: "Bytes of distributions downloaded."}),
		BytesScanned: prometheus.NewCounter(prometheus.CounterOpts{Name: "dragonfly_bytes_scanned_total",
			Help: "Expanded bytes matched against the rules."}),
		StageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dragonfly_stage_duration_seconds",
			Help:    "Time spent per job (lease: per request) in each stage.",
			Buckets: []float64{.005, .025, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}}, []string{"stage"}),
		JobsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{Name: "dragonfly_jobs_in_flight",
			Help: "Jobs leased and not yet answered."}),
		RulesInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dragonfly_rules_info",
			Help: "1 for the hash of the rule set in use."}, []string{"hash"}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "dragonfly_build_info",
			Help: "1, labelled with the client's version and the libyara it was built with."}, []string{"version", "libyara"}),
		CredentialRenewals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dragonfly_credential_renewals_total",
			Help: "Credential renewals, by outcome."}, []string{"outcome"}),
		MainframeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dragonfly_mainframe_errors_total",
			Help: "Mainframe calls that failed transiently, by call; the mainframe's health, not the worker's."}, []string{"call"}),
	}
	if reg != nil {
		reg.MustRegister(m.JobsLeased, m.Results, m.JobFailures, m.ResultsRejected, m.JobsAbandoned,
			m.BytesDownloaded, m.BytesScanned, m.StageDuration, m.JobsInFlight, m.RulesInfo, m.BuildInfo,
			m.CredentialRenewals, m.MainframeErrors)
	}
	return m
}

// cacheCollector exports a content cache's counters, read at scrape time
// so that the scanners' hot path updates nothing but the cache's own
// atomics.
type cacheCollector struct {
	c                                       *scan.Cache
	lookups, members, evictions, bytes, max *prometheus.Desc
}

// NewCacheCollector returns the collector of c's series:
// dragonfly_cache_lookups_total{result="hit"|"miss"},
// dragonfly_cache_member_lookups_total{result="hit"|"miss"},
// dragonfly_cache_evictions_total, dragonfly_cache_bytes and
// dragonfly_cache_max_bytes.
func NewCacheCollector(c *scan.Cache) prometheus.Collector {
	return &cacheCollector{c: c,
		lookups: prometheus.NewDesc("dragonfly_cache_lookups_total",
			"Files of at least scan.CacheMinFileSize bytes looked up in the content cache, by result (hit or miss).", []string{"result"}, nil),
		members: prometheus.NewDesc("dragonfly_cache_member_lookups_total",
			"Deflated zip members looked up by their compressed bytes before inflating; a hit is a member identical to one seen before.", []string{"result"}, nil),
		evictions: prometheus.NewDesc("dragonfly_cache_evictions_total",
			"Content cache entries dropped to stay within DRAGONFLY_CACHE_SIZE.", nil, nil),
		bytes: prometheus.NewDesc("dragonfly_cache_bytes",
			"Estimated memory held by the content cache.", nil, nil),
		max: prometheus.NewDesc("dragonfly_cache_max_bytes",
			"DRAGONFLY_CACHE_SIZE, the content cache's bound.", nil, nil),
	}
}

func (cc *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- cc.lookups
	ch <- cc.members
	ch <- cc.evictions
	ch <- cc.bytes
	ch <- cc.max
}

func (cc *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := cc.c.Stats()
	ch <- prometheus.MustNewConstMetric(cc.lookups, prometheus.CounterValue, float64(st.Hits), "hit")
	ch <- prometheus.MustNewConstMetric(cc.lookups, prometheus.CounterValue, float64(st.Misses), "miss")
	ch <- prometheus.MustNewConstMetric(cc.members, prometheus.CounterValue, float64(st.MemberHits), "hit")
	ch <- prometheus.MustNewConstMetric(cc.members, prometheus.CounterValue, float64(st.MemberMisses), "miss")
	ch <- prometheus.MustNewConstMetric(cc.evictions, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(cc.bytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(cc.max, prometheus.GaugeValue, float64(st.MaxBytes))
}
