package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DatasourceState is what the daemon knows about one data source, read at
// scrape time. A zero time omits the matching series rather than exporting a
// misleading 0 (which would read as "1970" on a dashboard and fire alerts).
type DatasourceState struct {
	Name            string    // the inventory name; the datasource label
	LastSuccess     time.Time // end of the last successful rotation
	CredentialSetAt time.Time // when the credential now in Power BI was set
	ExpiresAt       time.Time // OAuth2 token or Key Vault secret expiry
	NextRotation    time.Time // when the scheduler will rotate next
	UsersDrift      int       // users that differ from the inventory
	LastVerify      time.Time // when the last conclusive status check ran
	Verified        bool      // whether that check connected; meaningless while LastVerify is zero
}

// StateFunc returns the current state of every data source in the inventory.
// It is called on every scrape, so it must be cheap and safe for concurrent use.
type StateFunc func() []DatasourceState

// EncryptStats is the view of the encryption worker pool the metrics need.
type EncryptStats interface {
	Segments() uint64 // RSA segments encrypted since start
	QueueLength() int // segments waiting for a worker now
}

// stateCollector exports state owned elsewhere. Reading it at scrape time
// (rather than mirroring it into gauges) means a data source that leaves the
// inventory stops being exported without any bookkeeping.
type stateCollector struct {
	now     func() time.Time
	states  StateFunc
	encrypt EncryptStats

	lastSuccess, credentialAge, tokenExpiry, nextRotation, usersDrift *prometheus.Desc
	verified, lastVerify                                              *prometheus.Desc
	segments, queueLength                                             *prometheus.Desc
}

func newStateCollector(now func() time.Time, states StateFunc, encrypt EncryptStats) *stateCollector {
	const perDatasource = " Cardinality: datasource (one per inventory entry)."
	ds := []string{"datasource"}
	return &stateCollector{
		now:     now,
		states:  states,
		encrypt: encrypt,
		lastSuccess: prometheus.NewDesc("rotatord_last_success_timestamp_seconds",
			"Unix time of the last successful rotation; absent until one succeeds."+perDatasource, ds, nil),
		credentialAge: prometheus.NewDesc("rotatord_credential_age_seconds",
			"Seconds since the credential now in Power BI was set."+perDatasource, ds, nil),
		tokenExpiry: prometheus.NewDesc("rotatord_token_expiry_timestamp_seconds",
			"Unix time at which the OAuth2 token or Key Vault secret expires; absent if it has no expiry."+perDatasource, ds, nil),
		nextRotation: prometheus.NewDesc("rotatord_next_rotation_timestamp_seconds",
			"Unix time of the next scheduled rotation."+perDatasource, ds, nil),
		usersDrift: prometheus.NewDesc("rotatord_datasource_users_drift",
			"Data source users that differ from the inventory."+perDatasource, ds, nil),
		verified: prometheus.NewDesc("rotatord_credential_verified",
			"1 if the last status check connected with the credential now in Power BI, 0 if it did not; "+
				"absent until one is conclusive."+perDatasource, ds, nil),
		lastVerify: prometheus.NewDesc("rotatord_last_verify_timestamp_seconds",
			"Unix time of the last conclusive status check; absent until one."+perDatasource, ds, nil),
		segments: prometheus.NewDesc("rotatord_encrypt_segments_total",
			"RSA segments encrypted with gateway keys since start. No labels.", nil, nil),
		queueLength: prometheus.NewDesc("rotatord_encrypt_queue_length",
			"Segments waiting for an encryption worker. No labels.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.lastSuccess, c.credentialAge, c.tokenExpiry, c.nextRotation, c.usersDrift, c.verified, c.lastVerify,
		c.segments, c.queueLength,
	} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if c.encrypt != nil {
		ch <- prometheus.MustNewConstMetric(c.segments, prometheus.CounterValue, float64(c.encrypt.Segments()))
		ch <- prometheus.MustNewConstMetric(c.queueLength, prometheus.GaugeValue, float64(c.encrypt.QueueLength()))
	}
	if c.states == nil {
		return
	}
	now := c.now()
	for _, s := range c.states() {
		timestamp := func(d *prometheus.Desc, t time.Time) {
			if !t.IsZero() {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, unixSeconds(t), s.Name)
			}
		}
		timestamp(c.lastSuccess, s.LastSuccess)
		timestamp(c.tokenExpiry, s.ExpiresAt)
		timestamp(c.nextRotation, s.NextRotation)
		if !s.CredentialSetAt.IsZero() {
			// A wall clock stepped backwards must not show a negative age.
			age := max(now.Sub(s.CredentialSetAt), 0)
			ch <- prometheus.MustNewConstMetric(c.credentialAge, prometheus.GaugeValue, age.Seconds(), s.Name)
		}
		ch <- prometheus.MustNewConstMetric(c.usersDrift, prometheus.GaugeValue, float64(s.UsersDrift), s.Name)
		if !s.LastVerify.IsZero() {
			// Before the first conclusive check Verified is only a zero value:
			// exporting it as 0 would fire RotatordCredentialRejected.
			verified := 0.0
			if s.Verified {
				verified = 1
			}
			ch <- prometheus.MustNewConstMetric(c.verified, prometheus.GaugeValue, verified, s.Name)
			timestamp(c.lastVerify, s.LastVerify)
		}
	}
}

func unixSeconds(t time.Time) float64 {
	return float64(t.UnixNano()) / 1e9
}
