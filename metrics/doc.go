// Package metrics owns the Prometheus text exposition of a gateway's
// figures: what the DM server, the LwM2M server and the package downloads
// counted since they started, jobs and campaigns by state, and the
// store's writes and commits. It writes the text format 0.0.4 itself
// (Write: HELP and TYPE lines, escaped help and label values, a stable
// order) and serves it to a scraper (Handler), reading every figure anew
// at each scrape. It adds no dependency.
//
// The servers count with atomics where things happen (dm.Server.Stats,
// lwm2m.Server.Stats, download.Server.Stats). Jobs and campaigns are
// counted in the store at each scrape: store.Store.CountJobsByState walks
// the job_state index and decodes no job; campaigns have no index by
// state and are decoded (they are few). Counters start at zero when the
// process starts. A scrape whose store read fails is answered 500.
//
// The families (all always present, zeros included, so that a rate over
// any of them is defined from the first scrape):
//
//	fumo_dm_sessions_started_total            counter
//	fumo_dm_sessions_ended_total              counter  (an abandoned session never ends)
//	fumo_dm_messages_total                    counter  encoding=xml|wbxml
//	fumo_dm_auth_failures_total               counter
//	fumo_dm_retransmissions_total             counter  (a lost reply sent again)
//	fumo_dm_rejected_messages_total           counter  reason=method|media_type|too_large|malformed|not_found|
//	                                                   wrong_session|forbidden|sequence|version
//	fumo_lwm2m_jobs_to_waiting_total          counter  cause=expired|deregistered
//	fumo_lwm2m_delivery_no_progress_total     counter
//	fumo_lwm2m_registrations                  gauge
//	fumo_lwm2m_registers_total                counter
//	fumo_lwm2m_updates_total                  counter
//	fumo_lwm2m_deregistrations_total          counter
//	fumo_lwm2m_expirations_total              counter
//	fumo_lwm2m_requests_total                 counter  (downlink, each Block1 block counts)
//	fumo_lwm2m_request_failures_total         counter  kind=no_answer|error_answer
//	fumo_lwm2m_rejected_requests_total        counter  code=4.00|4.02|4.03|4.04|4.05|4.08|4.12|4.13|4.15 (and any other 4.xx seen)
//	fumo_lwm2m_unsolicited_messages_total     counter
//	fumo_lwm2m_dtls_unknown_identities_total  counter
//	fumo_lwm2m_dtls_handshakes_failed_total   counter  cause=bad_version|malformed|no_session|backlog|unknown_identity|
//	                                                   timeout|failed (unknown_identity: the family above)
//	fumo_lwm2m_dtls_record_versions_rewritten_total
//	                                          counter  (ClientHellos of record version 0xFE** taken as DTLS 1.2)
//	fumo_download_bytes_total                 counter  protocol=http|coap
//	fumo_download_requests_total              counter  protocol=http, outcome=ok|partial|not_modified|precondition_failed|
//	                                                   bad_range|not_found|method_not_allowed|error;
//	                                                   protocol=coap (one per block read), outcome=ok|bad_range|not_found|error
//	fumo_jobs                                 gauge    state=<each fleet.JobState>
//	fumo_campaigns                            gauge    state=draft|running|paused|done|cancelled
//	fumo_store_writes_total                   counter
//	fumo_store_commits_total                  counter
//	fumo_internal_errors_total                counter  component=dm|lwm2m|download
package metrics
