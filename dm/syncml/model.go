package syncml

// Protocol versions this package speaks.
const (
	VerDTD   = "1.2"
	VerProto = "DM/1.2"
)

// Namespaces written by the XML encoder.
const (
	NamespaceSyncML = "SYNCML:SYNCML1.2"
	NamespaceMetInf = "syncml:metinf"
)

// Message is one SyncML DM message: a SyncHdr and a SyncBody.
type Message struct {
	Header Header
	Body   Body
}

// Header is the SyncHdr.
type Header struct {
	VerDTD    string
	VerProto  string
	SessionID string
	MsgID     string
	Target    Location
	Source    Location
	RespURI   string
	NoResp    bool
	Cred      *Cred
	Meta      *Meta
}

// Body is the SyncBody: commands in order, then an optional Final.
type Body struct {
	Commands []Command
	Final    bool
}

// Location is a Target or Source: a URI and an optional name (LocName, the
// user name in md5/HMAC authentication).
type Location struct {
	LocURI  string
	LocName string
}

// Cred carries credentials: the scheme in Meta Type (and Format), the value
// in Data.
type Cred struct {
	Meta *Meta
	Data string
}

// Chal is a challenge: the scheme and the next nonce in Meta.
type Chal struct {
	Meta *Meta
}

// Meta is the MetInf content of a Meta element. Zero numbers mean absent.
type Meta struct {
	Format     string
	Type       string
	Mark       string
	Size       int64
	Version    string
	NextNonce  []byte // raw nonce bytes (base64 text on the wire, or OPAQUE)
	MaxMsgSize int64
	MaxObjSize int64
	EMI        []string
}

// Item is one item of a command.
type Item struct {
	Target *Location
	Source *Location
	Meta   *Meta
	// Data is the item's data; nil when the Item has no Data element, empty
	// for <Data/>. Nested XML inside Data is kept as its XML text.
	Data     []byte
	MoreData bool
}

// Command is one element of a SyncBody (or of a Sequence or Atomic).
type Command interface {
	// CommandName is the element name: "Alert", "Status", ...
	CommandName() string
	// CommandID is the CmdID.
	CommandID() string
}

// ItemCommand is the shape shared by Add, Replace, Delete, Get and Copy.
type ItemCommand struct {
	CmdID  string
	NoResp bool
	Lang   string // Get only
	Cred   *Cred
	Meta   *Meta
	Items  []Item
}

// Add adds nodes.
type Add ItemCommand

// Replace replaces node values (and carries DevInfo from a client).
type Replace ItemCommand

// Delete deletes nodes.
type Delete ItemCommand

// Get reads nodes; the answer is a Results.
type Get ItemCommand

// Copy copies a node.
type Copy ItemCommand

// Alert carries an alert code (1201 client session, 1226 generic alert, ...).
type Alert struct {
	CmdID      string
	NoResp     bool
	Cred       *Cred
	Code       int
	Correlator string
	Items      []Item
}

// Exec executes a node; FUMO uses it on Download, Update and
// DownloadAndUpdate with a Correlator.
type Exec struct {
	CmdID      string
	NoResp     bool
	Cred       *Cred
	Meta       *Meta
	Correlator string
	Item       Item
}

// Sequence runs its commands in order.
type Sequence struct {
	CmdID    string
	NoResp   bool
	Meta     *Meta
	Commands []Command
}

// Atomic runs its commands all or none.
type Atomic struct {
	CmdID    string
	NoResp   bool
	Meta     *Meta
	Commands []Command
}

// Results answers a Get.
type Results struct {
	CmdID     string
	MsgRef    string
	CmdRef    string
	Meta      *Meta
	TargetRef string
	SourceRef string
	Items     []Item
}

// Status answers a command (CmdRef) or the SyncHdr (CmdRef "0", Cmd
// "SyncHdr") of message MsgRef.
type Status struct {
	CmdID      string
	MsgRef     string
	CmdRef     string
	Cmd        string
	TargetRefs []string
	SourceRefs []string
	Cred       *Cred
	Chal       *Chal
	Code       int
	Items      []Item
}

// Unknown is an element of a SyncBody (or Sequence/Atomic) that DM 1.2 does
// not define or this package does not model (Sync, Map, Put, Search, ...).
// It is kept so that a server can answer it with a status (406 or 501)
// instead of dropping it silently; only its name and CmdID survive.
type Unknown struct {
	Tag   string
	CmdID string
}

func (c *Add) CommandName() string      { return "Add" }
func (c *Replace) CommandName() string  { return "Replace" }
func (c *Delete) CommandName() string   { return "Delete" }
func (c *Get) CommandName() string      { return "Get" }
func (c *Copy) CommandName() string     { return "Copy" }
func (c *Alert) CommandName() string    { return "Alert" }
func (c *Exec) CommandName() string     { return "Exec" }
func (c *Sequence) CommandName() string { return "Sequence" }
func (c *Atomic) CommandName() string   { return "Atomic" }
func (c *Results) CommandName() string  { return "Results" }
func (c *Status) CommandName() string   { return "Status" }
func (c *Unknown) CommandName() string  { return c.Tag }

func (c *Add) CommandID() string      { return c.CmdID }
func (c *Replace) CommandID() string  { return c.CmdID }
func (c *Delete) CommandID() string   { return c.CmdID }
func (c *Get) CommandID() string      { return c.CmdID }
func (c *Copy) CommandID() string     { return c.CmdID }
func (c *Alert) CommandID() string    { return c.CmdID }
func (c *Exec) CommandID() string     { return c.CmdID }
func (c *Sequence) CommandID() string { return c.CmdID }
func (c *Atomic) CommandID() string   { return c.CmdID }
func (c *Results) CommandID() string  { return c.CmdID }
func (c *Status) CommandID() string   { return c.CmdID }
func (c *Unknown) CommandID() string  { return c.CmdID }
