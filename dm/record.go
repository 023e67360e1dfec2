package dm

import (
	"encoding/json"
	"strings"

	"github.com/fumo-gw/fumo-gw/fleet"
)

// stepRecord turns a step's output into the store's change, and the
// results to report once it is stored.
func (s *Server) stepRecord(m *message, out StepOutput, finish []fleet.DMCommand) (fleet.DMStep, []CommandResult, error) {
	dev := m.dev
	state, err := json.Marshal(out.Session)
	if err != nil {
		return fleet.DMStep{}, nil, err
	}
	sess := m.sess
	// Only steps in which the device authenticated are stored.
	sess.State, sess.Authenticated, sess.Source = state, true, m.source
	st := fleet.DMStep{Session: sess, Sent: out.Sent, Resent: out.Resent, Requeue: out.Unanswered, Finished: finish}
	if m.enrolling {
		d := *dev
		st.Enrol = &d
	}
	var results []CommandResult
	devDetail := map[string]string{}
	for _, o := range out.Done {
		raw, err := json.Marshal(o)
		if err != nil {
			return st, nil, err
		}
		st.Finished = append(st.Finished, fleet.DMCommand{ID: o.EntryID, State: fleet.DMCommandDone, Outcome: raw})
		oc := o
		results = append(results, CommandResult{ID: o.EntryID, DeviceID: dev.ID, State: fleet.DMCommandDone, Outcome: &oc})
		for _, it := range o.Results {
			if it.Source != nil && strings.HasPrefix(it.Source.LocURI, "./DevDetail/") && it.Data != nil {
				devDetail[it.Source.LocURI] = string(it.Data)
			}
		}
	}
	fail := func(id, why string) {
		st.Finished = append(st.Finished, fleet.DMCommand{ID: id, State: fleet.DMCommandFailed, Error: why})
	}
	for _, id := range out.TooLarge {
		fail(id, "the command does not fit the device's MaxMsgSize/MaxObjSize")
	}
	for _, id := range out.Lost {
		fail(id, fleet.UnansweredPrefix+"the device's package ended without its status")
	}
	for _, f := range st.Finished {
		if f.State == fleet.DMCommandFailed {
			results = append(results, CommandResult{ID: f.ID, DeviceID: dev.ID, State: f.State, Error: f.Error})
		}
	}
	st.Device = deviceChange(dev, m, out, devDetail)
	return st, results, nil
}

// deviceChange is what a step changes of the device record, nil for
// nothing: nonces both ways, the server credential type the device asked
// for, DevInfo and DevDetail values, and a Package 0 answered.
func deviceChange(dev *fleet.Device, m *message, out StepOutput, devDetail map[string]string) func(*fleet.Device) error {
	serverAuth := fleet.DMAuth("")
	if out.ServerScheme != 0 && fleet.DMAuth(out.ServerScheme.String()) != dev.DM.ServerAuthType() {
		serverAuth = fleet.DMAuth(out.ServerScheme.String())
	}
	trigger := dev.DM.TriggerSessionID != "" && out.Auth.Accepted && hasAlert(m.msg, AlertServerInitiated) &&
		sameSessionID(dev.DM.TriggerSessionID, m.msg.Header.SessionID)
	if out.Nonce == nil && out.ServerNonce == nil && serverAuth == "" && len(out.DevInfo) == 0 && len(devDetail) == 0 && !trigger {
		return nil
	}
	return func(d *fleet.Device) error {
		if out.Nonce != nil {
			d.DM.ClientNonce = out.Nonce
		}
		if out.ServerNonce != nil {
			d.DM.ServerNonce = out.ServerNonce
		}
		if serverAuth != "" {
			d.DM.ServerAuth = serverAuth
		}
		if len(out.DevInfo) > 0 {
			d.DM.DevInfo = mergeNodes(d.DM.DevInfo, out.DevInfo, "./DevInfo/")
			if mod := d.DM.DevInfo["Mod"]; d.Model == "" && mod != "" {
				d.Model = mod
			}
		}
		if len(devDetail) > 0 {
			d.DM.DevDetail = mergeNodes(d.DM.DevDetail, devDetail, "./DevDetail/")
			if fwv := d.DM.DevDetail["FwV"]; fwv != "" {
				d.FirmwareVersion = fwv
			}
		}
		if trigger {
			d.DM.TriggerSessionID = ""
		}
		return nil
	}
}
