package fumo

import (
	"sort"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// FUMO root discovery: a device whose FUMO root is provisioned neither
// per device nor per model is asked for the structure of its tree (Get
// ./?list=Struct); the interior nodes that look like a FUMO object are
// then asked for their Type property (?prop=Type), and the first whose
// Type is MOType is the root.

// DiscoveryBase is the node whose structure discovery reads.
const DiscoveryBase = "."

// MaxCandidates bounds the nodes whose Type discovery reads.
const MaxCandidates = 16

// FallbackRoots are the nodes probed when the device cannot list its
// tree: where devices put FUMO most often.
var FallbackRoots = []Root{DefaultRoot, "./FUMO", "./FwUpdate"}

// Candidates returns the interior nodes of a ?list=Struct answer (its
// Results items, one per node) that may be a FUMO root: those with a
// State child and a Download, Update or DownloadAndUpdate child; when none
// has them, every interior node. Shallow nodes come first; at most
// MaxCandidates. A node is interior when the answer says so (Format node)
// or lists a node below it.
func Candidates(items []syncml.Item) []Root {
	children := map[string]map[string]bool{}
	interior := map[string]bool{}
	add := func(uri string) {
		for uri != DiscoveryBase && strings.HasPrefix(uri, "./") {
			i := strings.LastIndexByte(uri, '/')
			parent, name := uri[:i], uri[i+1:]
			if parent == "." {
				return
			}
			if children[parent] == nil {
				children[parent] = map[string]bool{}
			}
			children[parent][name] = true
			interior[parent] = true
			uri = parent
		}
	}
	for _, it := range items {
		if it.Source == nil {
			continue
		}
		uri := strings.TrimSuffix(strings.TrimSpace(it.Source.LocURI), "/")
		if !strings.HasPrefix(uri, "./") {
			continue
		}
		if it.Meta != nil && strings.EqualFold(it.Meta.Format, "node") {
			interior[uri] = true
		}
		add(uri)
	}
	var fumoLike, all []string
	for n := range interior {
		all = append(all, n)
		c := children[n]
		if c["State"] && (c["Download"] || c["Update"] || c["DownloadAndUpdate"]) {
			fumoLike = append(fumoLike, n)
		}
	}
	pick := fumoLike
	if len(pick) == 0 {
		pick = all
	}
	sort.Slice(pick, func(i, j int) bool {
		di, dj := strings.Count(pick[i], "/"), strings.Count(pick[j], "/")
		if di != dj {
			return di < dj
		}
		return pick[i] < pick[j]
	})
	if len(pick) > MaxCandidates {
		pick = pick[:MaxCandidates]
	}
	roots := make([]Root, 0, len(pick))
	for _, p := range pick {
		if Root(p).Validate() == nil {
			roots = append(roots, Root(p))
		}
	}
	return roots
}

// IsFUMOType reports whether a node's Type property names the FUMO object.
func IsFUMOType(t string) bool {
	return strings.EqualFold(strings.TrimSpace(t), MOType)
}
