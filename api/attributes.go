package api

import (
	"net/http"
	"strings"

	"github.com/fumo-gw/fumo-gw/lwm2m"
	"github.com/fumo-gw/fumo-gw/lwm2m/link"
	"github.com/fumo-gw/fumo-gw/lwm2m/node"
)

// LwM2M Discover and Write-Attributes: what a device lists under a path
// with the attributes attached to each link, and the notification
// attributes (LwM2M 1.0/1.1 §5.1.2) the gateway sets on a path.

// LwM2MLinks is a Discover's answer: the links the device lists under
// Path, in its order.
type LwM2MLinks struct {
	Path  string      `json:"path"`
	Links []LwM2MLink `json:"links"`
}

// LwM2MLink is one link of a Discover answer: an object, instance or
// resource path (without the device's alternate root) and its attributes
// as the device wrote them (dim, ver, pmin, pmax, gt, lt, st, ...); an
// attribute without a value is "".
type LwM2MLink struct {
	Path       string            `json:"path"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// LwM2MAttributes are the notification attributes a Write-Attributes
// sets; absent ones are not sent (and the device keeps what it has).
// pmin and pmax are seconds, pmin <= pmax; gt, lt and st apply to a
// resource (or resource instance) only, st >= 0, lt < gt and
// lt + 2·st < gt.
type LwM2MAttributes struct {
	PMin *int     `json:"pmin,omitempty"`
	PMax *int     `json:"pmax,omitempty"`
	GT   *float64 `json:"gt,omitempty"`
	LT   *float64 `json:"lt,omitempty"`
	ST   *float64 `json:"st,omitempty"`
}

// check validates the attributes for path: nothing is sent when it fails.
func (at LwM2MAttributes) check(p node.Path) error {
	switch {
	case at == (LwM2MAttributes{}):
		return badRequest("no attributes: give pmin, pmax, gt, lt or st")
	case at.PMin != nil && *at.PMin < 0:
		return badRequest("pmin %d: must be 0 or more", *at.PMin)
	case at.PMax != nil && *at.PMax < 0:
		return badRequest("pmax %d: must be 0 or more", *at.PMax)
	case at.PMin != nil && at.PMax != nil && *at.PMin > *at.PMax:
		return badRequest("pmin %d is over pmax %d", *at.PMin, *at.PMax)
	case at.ST != nil && *at.ST < 0:
		return badRequest("st %g: must be 0 or more", *at.ST)
	case (at.GT != nil || at.LT != nil || at.ST != nil) && p.Len() < 3:
		return badRequest("gt, lt and st apply to a resource, not to %s", p)
	case at.GT != nil && at.LT != nil && *at.LT >= *at.GT:
		return badRequest("lt %g must be under gt %g", *at.LT, *at.GT)
	case at.GT != nil && at.LT != nil && at.ST != nil && *at.LT+2**at.ST >= *at.GT:
		return badRequest("lt + 2·st (%g) must be under gt %g", *at.LT+2**at.ST, *at.GT)
	}
	return nil
}

// server is the attributes as the LwM2M server takes them.
func (at LwM2MAttributes) server() lwm2m.Attributes {
	return lwm2m.Attributes{MinPeriod: at.PMin, MaxPeriod: at.PMax, GreaterThan: at.GT, LessThan: at.LT, Step: at.ST}
}

// objectPath is lwm2mTarget for Discover and Write-Attributes, which
// LwM2M defines on an object, instance or resource, not on the root.
func (a *API) objectPath(w http.ResponseWriter, r *http.Request) (string, node.Path, bool) {
	ep, p, ok := a.lwm2mTarget(w, r)
	if ok && p.Len() == 0 {
		a.fail(w, r, badRequest("path: an object, instance or resource, not the root"))
		return "", p, false
	}
	return ep, p, ok
}

func (a *API) lwm2mDiscover(w http.ResponseWriter, r *http.Request) {
	ep, p, ok := a.objectPath(w, r)
	if !ok {
		return
	}
	ctx, cancel := contextWithTimeout(r, a.cfg.RequestTimeout)
	defer cancel()
	links, err := a.g.LwM2M.Discover(ctx, ep, p)
	if err != nil {
		a.fail(w, r, deviceWait(ctx, err))
		return
	}
	reg, _ := a.g.LwM2M.Registration(ep)
	writeJSON(w, http.StatusOK, linksView(p, links, reg.Root))
}

// linksView is a Discover answer as the API shows it; root is the
// device's alternate root path ("" none).
func linksView(p node.Path, links []link.Link, root string) LwM2MLinks {
	out := LwM2MLinks{Path: p.String(), Links: make([]LwM2MLink, 0, len(links))}
	for _, l := range links {
		v := LwM2MLink{Path: linkPath(l.Target, root)}
		for _, pr := range l.Params {
			if v.Attributes == nil {
				v.Attributes = map[string]string{}
			}
			v.Attributes[pr.Name] = pr.Value
		}
		out.Links = append(out.Links, v)
	}
	return out
}

// linkPath is a link's target as an LwM2M path: without the device's
// alternate root, and canonical when it is a path at all (otherwise as
// the device wrote it).
func linkPath(target, root string) string {
	if root != "" && (target == root || strings.HasPrefix(target, root+"/")) {
		target = strings.TrimPrefix(target, root)
	}
	if p, err := node.ParsePath(target); err == nil {
		return p.String()
	}
	return target
}

func (a *API) lwm2mWriteAttributes(w http.ResponseWriter, r *http.Request) {
	ep, p, ok := a.objectPath(w, r)
	if !ok {
		return
	}
	var at LwM2MAttributes
	if err := a.decode(w, r, &at); err != nil {
		a.failDecode(w, r, err)
		return
	}
	if err := at.check(p); err != nil {
		a.fail(w, r, err)
		return
	}
	ctx, cancel := contextWithTimeout(r, a.cfg.RequestTimeout)
	defer cancel()
	if err := a.g.LwM2M.WriteAttributes(ctx, ep, p, at.server()); err != nil {
		a.fail(w, r, deviceWait(ctx, err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"code": "2.04"})
}
