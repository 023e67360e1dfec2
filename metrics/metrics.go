package metrics

import (
	"bytes"
	"context"
	"net/http"

	"github.com/fumo-gw/fumo-gw/dm"
	"github.com/fumo-gw/fumo-gw/download"
	"github.com/fumo-gw/fumo-gw/fleet"
	"github.com/fumo-gw/fumo-gw/gateway"
	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/firmware"
	"github.com/fumo-gw/fumo-gw/store"
)

// DMSource is what the metrics read of the DM server.
type DMSource interface{ Stats() dm.Stats }

// LwM2MSource is what the metrics read of the LwM2M server.
type LwM2MSource interface {
	Stats() lwm2m.Stats
	Registered() int
}

// FirmwareSource is what the metrics read of the LwM2M firmware driver.
type FirmwareSource interface{ FirmwareStats() firmware.Stats }

// HTTPSource is what the metrics read of the HTTP listener (DM and
// downloads).
type HTTPSource interface{ HTTPConnsRefused() int64 }

// FilesSource is what the metrics read of the package downloads.
type FilesSource interface{ Stats() download.Stats }

// StoreSource is what the metrics read of the store.
type StoreSource interface {
	Stats() store.Stats
	CountJobsByState(ctx context.Context) (map[fleet.JobState]int, error)
	CountCampaignsByState(ctx context.Context) (map[fleet.CampaignState]int, error)
}

// Sources are the parts whose figures are exposed; a nil one is left out.
type Sources struct {
	DM    DMSource
	LwM2M LwM2MSource
	HTTP  HTTPSource
	Files FilesSource
	Store StoreSource
	// Firmware is the LwM2M firmware driver's figures.
	Firmware FirmwareSource
}

// Handler serves the figures of a running gateway.
func Handler(g *gateway.Gateway) http.Handler {
	var src Sources
	if g.DM != nil {
		src.DM = g.DM
	}
	if g.LwM2M != nil {
		src.LwM2M = g.LwM2M
	}
	if g.Files != nil {
		src.Files = g.Files
	}
	src.HTTP = g
	if g.LwM2M != nil {
		src.Firmware = g
	}
	if g.Store != nil {
		src.Store = g.Store
	}
	return NewHandler(src)
}

// NewHandler serves the figures of src: GET (and HEAD) render them anew
// in the text format 0.0.4; other methods get 405. When the store cannot
// be read the answer is 500 and no figures, so that a scraper marks the
// scrape failed instead of seeing jobs vanish.
func NewHandler(src Sources) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "metrics: GET or HEAD", http.StatusMethodNotAllowed)
			return
		}
		fams, err := gather(r.Context(), src)
		var b bytes.Buffer
		if err == nil {
			err = Write(&b, fams)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ContentType)
		w.Write(b.Bytes())
	})
}
