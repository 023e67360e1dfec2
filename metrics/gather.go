package metrics

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/store"
)

// campaignStates are every campaign state, listed at zero when no
// campaign is in them.
var campaignStates = []fleet.CampaignState{fleet.CampaignDraft, fleet.CampaignRunning, fleet.CampaignPaused,
	fleet.CampaignDone, fleet.CampaignCancelled}

// gather reads every source once and returns the gateway's families.
// Only the store is read under ctx; the servers' counters are atomics.
func gather(ctx context.Context, src Sources) ([]Family, error) {
	var fams []Family
	var errs []Sample
	if src.DM != nil {
		st := src.DM.Stats()
		fams = append(fams,
			counter("fumo_dm_sessions_started_total", "DM sessions whose first message was answered.", st.SessionsStarted),
			counter("fumo_dm_sessions_ended_total", "DM sessions whose last message was answered (an abandoned session never ends).", st.SessionsEnded),
			Family{Name: "fumo_dm_messages_total", Help: "DM client messages answered by the session engine, by encoding.", Type: Counter,
				Samples: []Sample{
					{Labels: []Label{{"encoding", "xml"}}, Value: float64(st.MessagesXML)},
					{Labels: []Label{{"encoding", "wbxml"}}, Value: float64(st.MessagesWBXML)},
				}},
			counter("fumo_dm_auth_failures_total", "DM client messages with wrong credentials.", st.AuthFailures),
			counter("fumo_dm_retransmissions_total", "DM client messages that repeated the session's last one (a lost reply), answered with the stored reply.", st.Retransmissions),
			byLabel("fumo_dm_rejected_messages_total", "DM client messages refused, by reason.", "reason", st.Rejected),
		)
		errs = append(errs, Sample{Labels: []Label{{"component", "dm"}}, Value: float64(st.Errors)})
	}
	if src.Firmware != nil {
		st := src.Firmware.FirmwareStats()
		fams = append(fams,
			Family{Name: "fumo_lwm2m_jobs_to_waiting_total", Help: "LwM2M jobs moved back to waiting for their device while the package was on its way, by cause.", Type: Counter,
				Samples: []Sample{
					{Labels: []Label{{"cause", "expired"}}, Value: float64(st.WaitingExpired)},
					{Labels: []Label{{"cause", "deregistered"}}, Value: float64(st.WaitingDeregistered)},
				}},
			counter("fumo_lwm2m_delivery_no_progress_total", "LwM2M delivery attempts given up on: no progress in the time the package's size allows.", st.NoProgress),
		)
	}
	if src.LwM2M != nil {
		st := src.LwM2M.Stats()
		fams = append(fams,
			Family{Name: "fumo_lwm2m_registrations", Help: "LwM2M registrations current.", Type: Gauge,
				Samples: []Sample{{Value: float64(src.LwM2M.Registered())}}},
			counter("fumo_lwm2m_registers_total", "LwM2M Registers accepted.", st.Registers),
			counter("fumo_lwm2m_updates_total", "LwM2M registration Updates accepted.", st.Updates),
			counter("fumo_lwm2m_deregistrations_total", "LwM2M De-registers accepted.", st.Deregistrations),
			counter("fumo_lwm2m_expirations_total", "LwM2M registrations dropped when their lifetime ran out.", st.Expirations),
			counter("fumo_lwm2m_requests_total", "Downlink requests sent to LwM2M devices (each block of a Block1 push counts).", st.Requests),
			Family{Name: "fumo_lwm2m_request_failures_total", Help: "Downlink requests that got no answer, or an error code, by kind.", Type: Counter,
				Samples: []Sample{
					{Labels: []Label{{"kind", "no_answer"}}, Value: float64(st.NoAnswer)},
					{Labels: []Label{{"kind", "error_answer"}}, Value: float64(st.ErrorAnswers)},
				}},
			byLabel("fumo_lwm2m_rejected_requests_total", "Requests from LwM2M devices answered with a client error, by CoAP code.", "code", st.Rejected),
			counter("fumo_lwm2m_unsolicited_messages_total", "CoAP responses from devices that answered no request in flight.", st.Unsolicited),
			counter("fumo_lwm2m_dtls_unknown_identities_total", "DTLS handshakes refused for a PSK identity no device has.", st.UnknownPSK),
			byLabel("fumo_lwm2m_dtls_handshakes_failed_total", "DTLS handshakes dropped before they began or failed, by cause "+
				"(bad_version: a record version outside 0xFE**; malformed: not DTLS records; no_session: not a handshake; backlog: "+
				"too many new addresses at once; unknown_identity; timeout; failed).", "cause", st.DTLSHandshakesFailed),
			counter("fumo_lwm2m_dtls_record_versions_rewritten_total", "DTLS sessions opened by a ClientHello whose record version "+
				"was 0xFE** other than 1.2 or 1.0 (stock mbedTLS sends 0xFE00), accepted as DTLS 1.2.", st.DTLSVersionsRewritten),
			counter("fumo_lwm2m_rate_limited_messages_total", "CoAP messages dropped: their source address was over its rate (coap-rate-per-source).", st.RateLimited),
			counter("fumo_lwm2m_evicted_connections_total", "CoAP connections without a registration closed: their source address opened more than coap-conns-per-source.", st.ConnsEvicted),
		)
		errs = append(errs, Sample{Labels: []Label{{"component", "lwm2m"}}, Value: float64(st.Errors)})
	}
	if src.HTTP != nil {
		fams = append(fams, counter("fumo_http_refused_connections_total",
			"HTTP connections closed at once: their source address had http-conns-per-source open.", src.HTTP.HTTPConnsRefused()))
	}
	if src.Files != nil {
		st := src.Files.Stats()
		reqs := make([]Sample, 0, len(st.Requests))
		for k, n := range st.Requests {
			reqs = append(reqs, Sample{Labels: []Label{{"protocol", k.Protocol}, {"outcome", k.Outcome}}, Value: float64(n)})
		}
		fams = append(fams,
			Family{Name: "fumo_download_bytes_total", Help: "Package bytes served, by protocol (coap: CoAP Block2 reads).", Type: Counter,
				Samples: []Sample{
					{Labels: []Label{{"protocol", download.ProtocolHTTP}}, Value: float64(st.BytesHTTP)},
					{Labels: []Label{{"protocol", download.ProtocolCoAP}}, Value: float64(st.BytesCoAP)},
				}},
			Family{Name: "fumo_download_requests_total", Help: "Package download requests (HTTP requests, CoAP block reads), by protocol and outcome.",
				Type: Counter, Samples: reqs},
		)
		errs = append(errs, Sample{Labels: []Label{{"component", "download"}}, Value: float64(st.Errors)})
	}
	if src.Store != nil {
		st := src.Store.Stats()
		jobs, err := src.Store.CountJobsByState(ctx)
		if err != nil {
			return nil, fmt.Errorf("metrics: jobs: %w", err)
		}
		camps, err := src.Store.CountCampaignsByState(ctx)
		if err != nil {
			return nil, fmt.Errorf("metrics: campaigns: %w", err)
		}
		fams = append(fams,
			byState("fumo_jobs", "Jobs by state.", fleet.JobStates, jobs),
			byState("fumo_campaigns", "Campaigns by state.", campaignStates, camps),
			counter("fumo_store_writes_total", "Store changes asked for (a refused change counts).", st.Writes),
			counter("fumo_store_commits_total", "Store write transactions committed, one fsync each.", st.Commits),
		)
	}
	if len(errs) > 0 {
		fams = append(fams, Family{Name: "fumo_internal_errors_total", Help: "Failures inside the gateway's servers (logged at error level), by component.",
			Type: Counter, Samples: errs})
	}
	return fams, nil
}

func counter(name, help string, v int64) Family {
	return Family{Name: name, Help: help, Type: Counter, Samples: []Sample{{Value: float64(v)}}}
}

// byLabel is a counter family with one sample per key of m.
func byLabel(name, help, label string, m map[string]int64) Family {
	f := Family{Name: name, Help: help, Type: Counter}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		f.Samples = append(f.Samples, Sample{Labels: []Label{{label, k}}, Value: float64(m[k])})
	}
	return f
}

// byState is a gauge with one sample per state: every known one (zero
// when absent) and any other the counts hold.
func byState[S ~string](name, help string, known []S, counts map[S]int) Family {
	f := Family{Name: name, Help: help, Type: Gauge}
	seen := map[S]bool{}
	for _, s := range known {
		seen[s] = true
		f.Samples = append(f.Samples, Sample{Labels: []Label{{"state", string(s)}}, Value: float64(counts[s])})
	}
	for s, n := range counts {
		if !seen[s] {
			f.Samples = append(f.Samples, Sample{Labels: []Label{{"state", string(s)}}, Value: float64(n)})
		}
	}
	return f
}

// Compile-time checks that the gateway's parts are sources.
var (
	_ DMSource    = (*dm.Server)(nil)
	_ LwM2MSource = (*lwm2m.Server)(nil)
	_ FilesSource = (*download.Server)(nil)
	_ StoreSource = (*store.Store)(nil)
)
