package fumo

import (
	"fmt"
	"strconv"
	"strings"
)

// State is the value of <x>/State (FUMO 1.0 section 5.3.1).
//
//	Idle(10) --Exec Download/DownloadAndUpdate--> DownloadProgressing(30)
//	Idle(10) --Replace PkgData--> ReadyToUpdate(50)
//	DownloadProgressing(30) --> DownloadFailed(20) | DownloadComplete(40) --> ReadyToUpdate(50)
//	ReadyToUpdate(50) --Exec Update (DownloadAndUpdate goes on by itself)--> UpdateProgressing(60)
//	UpdateProgressing(60) --> UpdateFailedHaveData(70) | UpdateFailedNoData(80)
//	                        | UpdateSuccessfulHaveData(90) | UpdateSuccessfulNoData(100)
//	any final state --clean-up--> Idle(10)
type State int

const (
	StateIdle                     State = 10
	StateDownloadFailed           State = 20
	StateDownloadProgressing      State = 30
	StateDownloadComplete         State = 40
	StateReadyToUpdate            State = 50
	StateUpdateProgressing        State = 60
	StateUpdateFailedHaveData     State = 70
	StateUpdateFailedNoData       State = 80
	StateUpdateSuccessfulHaveData State = 90
	StateUpdateSuccessfulNoData   State = 100
)

var stateNames = map[State]string{
	StateIdle:                     "Idle",
	StateDownloadFailed:           "DownloadFailed",
	StateDownloadProgressing:      "DownloadProgressing",
	StateDownloadComplete:         "DownloadComplete",
	StateReadyToUpdate:            "ReadyToUpdate",
	StateUpdateProgressing:        "UpdateProgressing",
	StateUpdateFailedHaveData:     "UpdateFailedHaveData",
	StateUpdateFailedNoData:       "UpdateFailedNoData",
	StateUpdateSuccessfulHaveData: "UpdateSuccessfulHaveData",
	StateUpdateSuccessfulNoData:   "UpdateSuccessfulNoData",
}

func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Valid reports whether s is one of the ten FUMO states.
func (s State) Valid() bool {
	_, ok := stateNames[s]
	return ok
}

// Terminal reports whether s ends an update attempt (failed or successful).
func (s State) Terminal() bool {
	switch s {
	case StateDownloadFailed, StateUpdateFailedHaveData, StateUpdateFailedNoData,
		StateUpdateSuccessfulHaveData, StateUpdateSuccessfulNoData:
		return true
	}
	return false
}

// ParseState reads the text of a <x>/State Results item.
func ParseState(s string) (State, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	st := State(n)
	if err != nil || !st.Valid() {
		return 0, fmt.Errorf("fumo: %q is not a FUMO state: %w", s, ErrBadValue)
	}
	return st, nil
}
