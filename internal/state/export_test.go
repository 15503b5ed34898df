package state

import "maps"

// Snapshot returns a copy of every record.
func (s *Store) Snapshot() map[string]Datasource {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.dss)
}
