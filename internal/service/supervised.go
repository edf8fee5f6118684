package service

import (
	"errors"

	"github.com/cellar/cellar/internal/supervise"
)

// SetSupervisor lets readiness report the processes a supervisor keeps
// alive (the embedded servers of `make run`). Call it before serving.
func (s *Service) SetSupervisor(status func() []supervise.Status) { s.supervised = status }

// processChecks reports every supervised process that is not running, as
// "process:<name>" with its state (restarting or failed). The reason goes
// to the log, not to the unauthenticated probe.
func (s *Service) processChecks() []Check {
	if s.supervised == nil {
		return nil
	}
	var out []Check
	for _, st := range s.supervised() {
		if st.State == supervise.Running {
			continue
		}
		out = append(out, Check{Name: "process:" + st.Name, State: string(st.State), Err: errors.New(st.Reason)})
	}
	return out
}
