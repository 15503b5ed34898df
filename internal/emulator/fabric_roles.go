package emulator

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// json is ra as the swagger ConnectionRoleAssignment.
func (ra FabricRoleAssignment) json() map[string]any {
	return map[string]any{
		"id":        ra.ID,
		"principal": map[string]any{"id": ra.PrincipalID, "type": ra.PrincipalType},
		"role":      ra.Role,
	}
}

// connectionLocked returns the connection of rt, or answers 404; the lock
// is held.
func (f *Fabric) connectionLocked(w http.ResponseWriter, rt fabRoute) *fabConnection {
	c := f.connections[strings.ToLower(rt.connectionID)]
	if c == nil {
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested connection was not found.")
	}
	return c
}

// roleLocked finds the route's connection and role assignment, answering 404 for either when it is
// missing (then ok is false). The caller holds f.mu.
func (f *Fabric) roleLocked(w http.ResponseWriter, rt fabRoute) (c *fabConnection, i int, ok bool) {
	if c = f.connectionLocked(w, rt); c == nil {
		return nil, 0, false
	}
	i = slices.IndexFunc(c.roles, func(ra FabricRoleAssignment) bool { return strings.EqualFold(ra.ID, rt.roleAssignmentID) })
	if i < 0 {
		fabricError(w, http.StatusNotFound, FabricCodeEntityNotFound, "The requested role assignment was not found.")
		return nil, 0, false
	}
	return c, i, true
}

func (f *Fabric) serveRoleAssignments(w http.ResponseWriter, r *http.Request, rt fabRoute) {
	f.mu.Lock()
	c := f.connectionLocked(w, rt)
	var list []map[string]any
	if c != nil {
		for _, ra := range c.roles {
			list = append(list, ra.json())
		}
	}
	f.mu.Unlock()
	if c != nil {
		fabricPage(f, w, r, list)
	}
}

// serveAddRoleAssignment answers Add Connection Role Assignment: 201 with
// the assignment, whose id is the principal's, and its Location; 409 for a
// principal that has a role on the connection already.
func (f *Fabric) serveAddRoleAssignment(w http.ResponseWriter, r *http.Request, rt fabRoute) {
	body, ok := f.readBody(w, r, OpFabricAddConnectionRoleAssignment)
	if !ok {
		return
	}
	var req struct {
		Principal struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		} `json:"principal"`
		Role string `json:"role"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		fabricError(w, http.StatusBadRequest, FabricCodeInvalidInput, "The request body does not match AddConnectionRoleAssignmentRequest.")
		return
	}
	if !fabricPrincipalType(req.Principal.Type) {
		fabricError(w, http.StatusBadRequest, FabricCodeInvalidInput, "principal.type: "+clip(req.Principal.Type, 40)+" principals cannot be assigned connection roles")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.connectionLocked(w, rt)
	if c == nil {
		return
	}
	if slices.ContainsFunc(c.roles, func(ra FabricRoleAssignment) bool { return strings.EqualFold(ra.PrincipalID, req.Principal.ID) }) {
		fabricError(w, http.StatusConflict, FabricCodePrincipalAlreadyHasRole, "Principal "+req.Principal.ID+" already has a role on the connection.")
		return
	}
	ra := FabricRoleAssignment{ID: req.Principal.ID, PrincipalID: req.Principal.ID, PrincipalType: req.Principal.Type, Role: req.Role}
	c.roles = append(c.roles, ra)
	w.Header().Set("Location", "https://"+r.Host+"/v1/connections/"+c.ID+"/roleAssignments/"+ra.ID)
	fabricJSON(w, http.StatusCreated, ra.json())
}

func (f *Fabric) serveRoleAssignment(w http.ResponseWriter, rt fabRoute) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, i, ok := f.roleLocked(w, rt)
	if !ok {
		return
	}
	fabricJSON(w, http.StatusOK, c.roles[i].json())
}

func (f *Fabric) serveUpdateRoleAssignment(w http.ResponseWriter, r *http.Request, rt fabRoute) {
	body, ok := f.readBody(w, r, OpFabricUpdateConnectionRoleAssignment)
	if !ok {
		return
	}
	var req struct {
		Role string `json:"role"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		fabricError(w, http.StatusBadRequest, FabricCodeInvalidInput, "The request body does not match UpdateConnectionRoleAssignmentRequest.")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, i, ok := f.roleLocked(w, rt)
	if !ok {
		return
	}
	c.roles[i].Role = req.Role
	fabricJSON(w, http.StatusOK, c.roles[i].json())
}

func (f *Fabric) serveDeleteRoleAssignment(w http.ResponseWriter, rt fabRoute) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, i, ok := f.roleLocked(w, rt)
	if !ok {
		return
	}
	c.roles = slices.Delete(c.roles, i, i+1)
	w.WriteHeader(http.StatusOK)
}
