package api

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cellar/cellar/internal/service"
)

type accessRuleJSON struct {
	RuleID      string    `json:"rule_id"`
	DBName      string    `json:"db_name"`
	DBType      string    `json:"db_type"`
	IPAddress   string    `json:"ip_address"`
	Port        int       `json:"port"`
	Description *string   `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

func accessRuleJSONFrom(r service.AccessRule) accessRuleJSON {
	return accessRuleJSON{
		RuleID: r.ID.String(), DBName: r.Database, DBType: string(r.Engine), IPAddress: r.Source.String(),
		Port: r.Port, Description: r.Description, CreatedAt: r.CreatedAt.UTC(),
	}
}

func (s *Server) addAccessRule(w http.ResponseWriter, r *http.Request) {
	req, err := decode[service.AddAccessRuleRequest](r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	rule, err := s.svc.AddAccessRule(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, accessRuleJSONFrom(*rule))
}

func (s *Server) listAccessRules(w http.ResponseWriter, r *http.Request) {
	rules, err := s.svc.ListAccessRules(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := struct {
		Rules []accessRuleJSON `json:"rules"`
		Total int              `json:"total"`
	}{Rules: make([]accessRuleJSON, 0, len(rules)), Total: len(rules)}
	for _, rule := range rules {
		out.Rules = append(out.Rules, accessRuleJSONFrom(rule))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) deleteAccessRule(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "rule_id")
	if err := s.svc.DeleteAccessRule(r.Context(), caller(r), chi.URLParam(r, "db_type"), chi.URLParam(r, "db_name"), id); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, successResponse{Success: true, Message: "Rule " + id + " removed from the database's access rules and the firewall"})
}
