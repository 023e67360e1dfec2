package reliability

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// attackerIP is where the attack comes from: another address than the
// devices' 127.0.0.1, as a separate host would be (per-source limits
// then meet it, not the devices).
var attackerIP = net.IPv4(127, 0, 0, 2)

// attacker sends malformed input to every listener of a gateway, paced
// (it tests parsers and state, not bandwidth: a volumetric flood would
// drop the devices' datagrams in the kernel too).
type attacker struct {
	seed uint64
	// Targets.
	httpBase, apiBase string       // http://host:port
	udp, dtls         *net.UDPAddr // the LwM2M listeners
	fileURL           string       // a signed download path of the package (as if leaked)
	dmDevices         []string     // DM device ids that exist (wrong credentials)
	secureEndpoints   []string     // endpoints of DTLS devices (registrations over plain UDP)
	pskIdentities     []string     // their PSK identities (handshakes with a wrong key)

	client *http.Client
	// udpSocks are the attacker's long-lived CoAP sockets, dtlsSock its
	// DTLS one (run opens and closes them).
	udpSocks []*net.UDPConn
	dtlsSock *net.UDPConn

	mu    sync.Mutex
	tally map[string]int // "what -> answer": attacks sent and what came back
}

func newAttacker(seed uint64) *attacker {
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: attackerIP}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: dialer.DialContext, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Second,
		ResponseHeaderTimeout: 15 * time.Second, DisableCompression: true}
	return &attacker{seed: seed, client: &http.Client{Transport: tr, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		tally: map[string]int{}}
}

// note counts one attack and its answer.
func (a *attacker) note(what string, answer any) {
	a.mu.Lock()
	a.tally[fmt.Sprintf("%s -> %v", what, answer)]++
	a.mu.Unlock()
}

// count is how many attacks named what got answer.
func (a *attacker) count(what string, answer any) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tally[fmt.Sprintf("%s -> %v", what, answer)]
}

// total counts the attacks sent.
func (a *attacker) total() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, c := range a.tally {
		n += c
	}
	return n
}

// report lists the tally, one "what -> answer: n" a line.
func (a *attacker) report() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	lines := make([]string, 0, len(a.tally))
	for k, n := range a.tally {
		lines = append(lines, fmt.Sprintf("  %s: %d", k, n))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// run attacks every listener until ctx ends, one goroutine per kind of
// attack, and returns when they all stopped.
func (a *attacker) run(ctx context.Context) error {
	var readers sync.WaitGroup
	defer readers.Wait()
	for range 3 {
		s, err := listenAttacker()
		if err != nil {
			return err
		}
		defer s.Close()
		a.udpSocks = append(a.udpSocks, s)
		readers.Go(func() { a.readAnswers(s, "coap answer") })
	}
	s, err := listenAttacker()
	if err != nil {
		return err
	}
	defer s.Close()
	a.dtlsSock = s
	readers.Go(func() { a.readAnswers(s, "dtls answer") })

	// Each kind of attack runs in rounds, with a pause between two. An
	// HTTP round waits for its answers; a datagram round does not, and
	// is paced to a few hundred datagrams a second: enough to reach every
	// parser and state thousands of times, not a flood that fills the
	// socket buffers the devices' datagrams go through too.
	kinds := map[string]struct {
		round func(context.Context, *rand.Rand)
		pause time.Duration
	}{
		"dm": {a.dmRound, 5 * time.Millisecond}, "download": {a.downloadRound, 5 * time.Millisecond},
		"api": {a.apiRound, 5 * time.Millisecond}, "http": {a.rawHTTPRound, 5 * time.Millisecond},
		"coap": {a.coapRound, 50 * time.Millisecond}, "dtls": {a.dtlsRound, 50 * time.Millisecond},
		"handshake": {a.handshakeRound, 50 * time.Millisecond},
	}
	var wg sync.WaitGroup
	for name, kind := range kinds {
		// FUMO_ATTACK=dm,coap narrows the attack down, to find which
		// kind a failure comes from.
		if only := os.Getenv("FUMO_ATTACK"); only != "" && !slices.Contains(strings.Split(only, ","), name) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(a.seed, uint64(len(name))<<8|uint64(name[0])))
			for ctx.Err() == nil {
				kind.round(ctx, rng)
				select {
				case <-ctx.Done():
				case <-time.After(kind.pause):
				}
			}
		}()
	}
	wg.Wait()
	a.client.CloseIdleConnections()
	return nil
}

// randomBytes returns n bytes of rng.
func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// pick returns one of s.
func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }
