package syncml

func decodeBody(b *Body, e *element) error {
	for _, c := range e.Children {
		if c.Name == "Final" {
			if b.Final {
				return under(malformed(c, "<Final> given twice"), e, c)
			}
			if err := empty(c); err != nil {
				return under(err, e, c)
			}
			b.Final = true
			continue
		}
		if b.Final {
			return under(malformed(c, "command after <Final>"), e, c)
		}
		cmd, err := decodeCommand(c)
		if err != nil {
			return under(err, e, c)
		}
		b.Commands = append(b.Commands, cmd)
	}
	return nil
}

func decodeCommand(e *element) (Command, error) {
	switch e.Name {
	case "Add", "Replace", "Delete", "Get", "Copy":
		ic, err := decodeItemCommand(e)
		if err != nil {
			return nil, err
		}
		switch e.Name {
		case "Add":
			return (*Add)(ic), nil
		case "Replace":
			return (*Replace)(ic), nil
		case "Delete":
			return (*Delete)(ic), nil
		case "Get":
			return (*Get)(ic), nil
		default:
			return (*Copy)(ic), nil
		}
	case "Alert":
		return decodeAlert(e)
	case "Exec":
		return decodeExec(e)
	case "Sequence", "Atomic":
		return decodeContainer(e)
	case "Results":
		return decodeResults(e)
	case "Status":
		return decodeStatus(e)
	}
	u := &Unknown{Tag: e.Name}
	for _, c := range e.Children {
		if c.Name == "CmdID" {
			u.CmdID, _ = text(c)
		}
	}
	return u, nil
}

// fieldDecoder decodes one child of a command; it reports whether the child
// is one of the command's elements.
type fieldDecoder func(c *element) (bool, error)

// decodeFields runs f over the children of e, rejecting unknown and repeated
// elements (except the repeatable ones), and checks the required ones.
func decodeFields(e *element, repeatable map[string]bool, required []string, f fieldDecoder) error {
	seen := map[string]bool{}
	for _, c := range e.Children {
		if !repeatable[c.Name] {
			if err := once(seen, c); err != nil {
				return under(err, e, c)
			}
		}
		seen[c.Name] = true
		ok, err := f(c)
		if err == nil && !ok {
			err = malformed(c, "unexpected element in <%s>", e.Name)
		}
		if err != nil {
			return under(err, e, c)
		}
	}
	for _, name := range required {
		if !seen[name] {
			return malformed(e, "missing <%s>", name)
		}
	}
	return nil
}

var repeatItem = map[string]bool{"Item": true}

func decodeItemCommand(e *element) (*ItemCommand, error) {
	ic := &ItemCommand{}
	err := decodeFields(e, repeatItem, []string{"CmdID", "Item"}, func(c *element) (bool, error) {
		var err error
		switch c.Name {
		case "CmdID":
			ic.CmdID, err = text(c)
		case "NoResp":
			ic.NoResp, err = true, empty(c)
		case "Lang":
			if e.Name != "Get" {
				return false, nil
			}
			ic.Lang, err = text(c)
		case "Cred":
			ic.Cred, err = decodeCred(c)
		case "Meta":
			ic.Meta, err = decodeMeta(c)
		case "Item":
			var it Item
			it, err = decodeItem(c)
			ic.Items = append(ic.Items, it)
		default:
			return false, nil
		}
		return true, err
	})
	return ic, err
}

func decodeAlert(e *element) (*Alert, error) {
	a := &Alert{}
	err := decodeFields(e, repeatItem, []string{"CmdID", "Data"}, func(c *element) (bool, error) {
		var err error
		switch c.Name {
		case "CmdID":
			a.CmdID, err = text(c)
		case "NoResp":
			a.NoResp, err = true, empty(c)
		case "Cred":
			a.Cred, err = decodeCred(c)
		case "Data":
			var n int64
			n, err = number(c, 9999)
			a.Code = int(n)
		case "Correlator":
			a.Correlator, err = text(c)
		case "Item":
			var it Item
			it, err = decodeItem(c)
			a.Items = append(a.Items, it)
		default:
			return false, nil
		}
		return true, err
	})
	return a, err
}

func decodeExec(e *element) (*Exec, error) {
	x := &Exec{}
	err := decodeFields(e, nil, []string{"CmdID", "Item"}, func(c *element) (bool, error) {
		var err error
		switch c.Name {
		case "CmdID":
			x.CmdID, err = text(c)
		case "NoResp":
			x.NoResp, err = true, empty(c)
		case "Cred":
			x.Cred, err = decodeCred(c)
		case "Meta":
			x.Meta, err = decodeMeta(c)
		case "Correlator":
			x.Correlator, err = text(c)
		case "Item":
			x.Item, err = decodeItem(c)
		default:
			return false, nil
		}
		return true, err
	})
	return x, err
}

func decodeContainer(e *element) (Command, error) {
	var (
		id     string
		noResp bool
		meta   *Meta
		cmds   []Command
	)
	err := decodeFields(e, commandNames, []string{"CmdID"}, func(c *element) (bool, error) {
		var err error
		switch c.Name {
		case "CmdID":
			id, err = text(c)
		case "NoResp":
			noResp, err = true, empty(c)
		case "Meta":
			meta, err = decodeMeta(c)
		default:
			if !commandNames[c.Name] {
				return false, nil
			}
			var cmd Command
			cmd, err = decodeCommand(c)
			cmds = append(cmds, cmd)
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	if e.Name == "Atomic" {
		return &Atomic{CmdID: id, NoResp: noResp, Meta: meta, Commands: cmds}, nil
	}
	return &Sequence{CmdID: id, NoResp: noResp, Meta: meta, Commands: cmds}, nil
}

// commandNames are the elements that may stand inside a Sequence or Atomic
// (the DM 1.2 ones and the SyncML ones kept as *Unknown).
var commandNames = map[string]bool{
	"Add": true, "Replace": true, "Delete": true, "Get": true, "Copy": true, "Alert": true, "Exec": true,
	"Sequence": true, "Atomic": true, "Map": true, "Put": true, "Search": true, "Sync": true, "Move": true,
}

func decodeResults(e *element) (*Results, error) {
	r := &Results{}
	err := decodeFields(e, repeatItem, []string{"CmdID", "CmdRef"}, func(c *element) (bool, error) {
		var err error
		switch c.Name {
		case "CmdID":
			r.CmdID, err = text(c)
		case "MsgRef":
			r.MsgRef, err = text(c)
		case "CmdRef":
			r.CmdRef, err = text(c)
		case "Meta":
			r.Meta, err = decodeMeta(c)
		case "TargetRef":
			r.TargetRef, err = text(c)
		case "SourceRef":
			r.SourceRef, err = text(c)
		case "Item":
			var it Item
			it, err = decodeItem(c)
			r.Items = append(r.Items, it)
		default:
			return false, nil
		}
		return true, err
	})
	return r, err
}

var repeatStatus = map[string]bool{"Item": true, "TargetRef": true, "SourceRef": true}

func decodeStatus(e *element) (*Status, error) {
	s := &Status{}
	err := decodeFields(e, repeatStatus, []string{"CmdID", "CmdRef", "Cmd", "Data"}, func(c *element) (bool, error) {
		var err error
		switch c.Name {
		case "CmdID":
			s.CmdID, err = text(c)
		case "MsgRef":
			s.MsgRef, err = text(c)
		case "CmdRef":
			s.CmdRef, err = text(c)
		case "Cmd":
			s.Cmd, err = text(c)
		case "TargetRef":
			var v string
			v, err = text(c)
			s.TargetRefs = append(s.TargetRefs, v)
		case "SourceRef":
			var v string
			v, err = text(c)
			s.SourceRefs = append(s.SourceRefs, v)
		case "Cred":
			s.Cred, err = decodeCred(c)
		case "Chal":
			s.Chal, err = decodeChal(c)
		case "Data":
			var n int64
			n, err = number(c, 9999)
			s.Code = int(n)
		case "Item":
			var it Item
			it, err = decodeItem(c)
			s.Items = append(s.Items, it)
		default:
			return false, nil
		}
		return true, err
	})
	return s, err
}
