package api

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/cellar/cellar/internal/cellar"
)

// TestProblem_ExtensionMembers_BesideNeverOverTheStandardOnes: a coded
// error's members appear as top-level members of the problem; one named
// like a standard member is dropped.
func TestProblem_ExtensionMembers_BesideNeverOverTheStandardOnes(t *testing.T) {
	e := cellar.Errorf(cellar.CodeConflict, "snapshot snap_x is still running")
	e.Members = map[string]string{"snapshot_id": "snap_x", "status": "999", "detail": "forged"}
	w := httptest.NewRecorder()
	writeError(w, httptest.NewRequest("POST", "/v1/databases/postgresql/x/snapshots", nil), nil, e)
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if w.Code != 409 || p["snapshot_id"] != "snap_x" || p["status"] != float64(409) || p["detail"] != "snapshot snap_x is still running" || p["type"] != "/problems/conflict" {
		t.Fatalf("problem %s", w.Body)
	}
}
