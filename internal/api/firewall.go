package api

import (
	"context"
	"time"

	"github.com/cellar/cellar/internal/service"
)

type accessRuleJSON struct {
	RuleID      string    `json:"rule_id" format:"uuid"`
	DBName      string    `json:"db_name"`
	DBType      string    `json:"db_type" enum:"postgresql|mariadb"`
	IPAddress   string    `json:"ip_address" doc:"CIDR notation; a single address as /32 or /128"`
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

type addAccessRuleRequest struct {
	dbAddress
	Body service.AddAccessRuleRequest
}

func (r *addAccessRuleRequest) body() any { return &r.Body }

func (s *Server) addAccessRule(ctx context.Context, c service.Caller, req *addAccessRuleRequest) (*accessRuleJSON, error) {
	rule, err := s.svc.AddAccessRule(ctx, c, req.DBType, req.DBName, req.Body)
	if err != nil {
		return nil, err
	}
	out := accessRuleJSONFrom(*rule)
	return &out, nil
}

type accessRuleListResponse struct {
	Rules []accessRuleJSON `json:"rules"`
	Total int              `json:"total"`
}

func (s *Server) listAccessRules(ctx context.Context, c service.Caller, req *dbAddress) (*accessRuleListResponse, error) {
	rules, err := s.svc.ListAccessRules(ctx, c, req.DBType, req.DBName)
	if err != nil {
		return nil, err
	}
	out := &accessRuleListResponse{Rules: make([]accessRuleJSON, 0, len(rules)), Total: len(rules)}
	for _, rule := range rules {
		out.Rules = append(out.Rules, accessRuleJSONFrom(rule))
	}
	return out, nil
}

// ruleRequest addresses one access rule of a database.
type ruleRequest struct {
	dbAddress
	RuleID string
}

func (r *ruleRequest) ExtractRaw(raw rawRequest) error {
	r.extract(raw)
	r.RuleID = raw.Path("rule_id")
	return nil
}

func (s *Server) deleteAccessRule(ctx context.Context, c service.Caller, req *ruleRequest) (*successResponse, error) {
	if err := s.svc.DeleteAccessRule(ctx, c, req.DBType, req.DBName, req.RuleID); err != nil {
		return nil, err
	}
	return &successResponse{Success: true, Message: "Rule " + req.RuleID + " removed from the database's access rules and the firewall"}, nil
}
