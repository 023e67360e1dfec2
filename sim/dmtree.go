package sim

import (
	"sort"
	"strings"

	"github.com/fumo-gw/fumo-gw/dm/syncml"
)

// The device's management tree is a map of leaf values by URI. Interior
// nodes are implied by the leaves below them: ./A/B/C makes ./A and ./A/B
// interior nodes, and "." (the root) is always a node. A node may carry a
// Type property (an MO identifier on the root of an MO, the way a server
// finds a FUMO object it does not know the place of).

// SetNode sets a leaf value in the device's tree.
func (d *DMDevice) SetNode(uri string, v []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.tree == nil {
		d.tree = map[string][]byte{}
	}
	d.tree[uri] = append([]byte(nil), v...)
}

// Node returns a leaf value.
func (d *DMDevice) Node(uri string) ([]byte, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.tree[uri]
	return v, ok
}

// SetNodeType sets the Type property of the node at uri (answered to Get
// <uri>?prop=Type while the node exists): an MO identifier such as
// urn:oma:mo:oma-fumo:1.0 on an MO's root, a MIME type on a leaf.
func (d *DMDevice) SetNodeType(uri, mimeType string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.types == nil {
		d.types = map[string]string{}
	}
	d.types[cleanURI(uri)] = mimeType
}

// ensureLeaf creates an empty leaf at uri unless it has a value.
func (d *DMDevice) ensureLeaf(uri string) {
	if _, ok := d.Node(uri); !ok {
		d.SetNode(uri, nil)
	}
}

// cleanURI drops a trailing slash: "./" is the root ".".
func cleanURI(uri string) string {
	if uri == "./" {
		return "."
	}
	return strings.TrimSuffix(uri, "/")
}

// below is the prefix of every URI under node uri.
func below(uri string) string { return cleanURI(uri) + "/" }

// hasNode reports whether uri is a leaf or an interior node.
func (d *DMDevice) hasNode(uri string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hasNodeLocked(uri)
}

func (d *DMDevice) hasNodeLocked(uri string) bool {
	if _, ok := d.tree[uri]; ok || cleanURI(uri) == "." {
		return true
	}
	if _, ok := d.tree[cleanURI(uri)]; ok {
		return true
	}
	p := below(uri)
	for k := range d.tree {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// treeNode is one node of a subtree listing.
type treeNode struct {
	uri      string
	interior bool
}

// subtree lists the nodes below uri (uri excluded) in sorted order; ok is
// false when uri is not a node.
func (d *DMDevice) subtree(uri string) (nodes []treeNode, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.hasNodeLocked(uri) {
		return nil, false
	}
	p := below(uri)
	interior := map[string]bool{}
	for k := range d.tree {
		rest, ok := strings.CutPrefix(k, p)
		if !ok || rest == "" {
			continue
		}
		parts := strings.Split(rest, "/")
		for i := 1; i <= len(parts); i++ {
			n := p + strings.Join(parts[:i], "/")
			interior[n] = interior[n] || i < len(parts)
		}
	}
	for n, in := range interior {
		nodes = append(nodes, treeNode{uri: n, interior: in})
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].uri < nodes[j].uri })
	return nodes, true
}

// children are the names of the nodes right below uri, sorted; ok is false
// when uri is not an interior node.
func (d *DMDevice) children(uri string) (names []string, ok bool) {
	nodes, _ := d.subtree(uri)
	p := below(uri)
	for _, n := range nodes {
		if name := strings.TrimPrefix(n.uri, p); !strings.Contains(name, "/") {
			names = append(names, name)
		}
	}
	return names, len(names) > 0
}

// nodeType is the Type property of node uri, if the node exists and has
// one.
func (d *DMDevice) nodeType(uri string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.types[cleanURI(uri)]
	return t, ok && d.hasNodeLocked(uri)
}

// deleteNode deletes node uri and everything below it.
func (d *DMDevice) deleteNode(uri string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.tree, uri)
	delete(d.tree, cleanURI(uri))
	delete(d.types, cleanURI(uri))
	p := below(uri)
	for k := range d.tree {
		if strings.HasPrefix(k, p) {
			delete(d.tree, k)
		}
	}
	for k := range d.types {
		if strings.HasPrefix(k, p) {
			delete(d.types, k)
		}
	}
}

// getNode answers a Get of one target: a leaf's value, an interior node's
// child names (Format node), or one of the OMA DM 1.2 tree queries
// "?list=Struct" (every node below, no data) and "?prop=Type". The code is
// 200, 404 for no such node (or no such property) or 406 for another
// query.
func (d *DMDevice) getNode(target string) ([]syncml.Item, int) {
	uri, query, _ := strings.Cut(target, "?")
	switch query {
	case "":
		return d.getValue(uri)
	case "list=Struct":
		nodes, ok := d.subtree(uri)
		if !ok {
			return nil, 404
		}
		items := make([]syncml.Item, 0, len(nodes))
		for _, n := range nodes {
			format := "chr"
			if n.interior {
				format = "node"
			}
			items = append(items, syncml.Item{Source: &syncml.Location{LocURI: n.uri}, Meta: &syncml.Meta{Format: format}})
		}
		return items, 200
	case "prop=Type":
		t, ok := d.nodeType(uri)
		if !ok {
			return nil, 404
		}
		return []syncml.Item{{Source: &syncml.Location{LocURI: target}, Meta: &syncml.Meta{Format: "chr"}, Data: []byte(t)}}, 200
	}
	return nil, 406
}

// getValue answers a plain Get: a leaf's value (Format chr, <Data/> when
// empty), or an interior node's child names separated by "/" (Format node).
func (d *DMDevice) getValue(uri string) ([]syncml.Item, int) {
	src := &syncml.Location{LocURI: uri}
	if v, ok := d.Node(uri); ok {
		if v == nil {
			v = []byte{}
		}
		return []syncml.Item{{Source: src, Meta: &syncml.Meta{Format: "chr"}, Data: v}}, 200
	}
	if names, ok := d.children(uri); ok || cleanURI(uri) == "." {
		return []syncml.Item{{Source: src, Meta: &syncml.Meta{Format: "node"}, Data: []byte(strings.Join(names, "/"))}}, 200
	}
	return nil, 404
}
