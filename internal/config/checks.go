package config

import "regexp"

var (
	// tenantRE accepts a tenant's domain name; UUIDs match it too.
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
	// nameRE keeps data source names usable as metric labels, CLI arguments
	// and log values without quoting.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	envRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func isTenant(s string) bool  { return len(s) <= 253 && tenantRE.MatchString(s) }
func isName(s string) bool    { return nameRE.MatchString(s) }
func isEnvName(s string) bool { return envRE.MatchString(s) }

// IsName reports whether s is a valid name for a data source or a vault
// in the inventory.
func IsName(s string) bool { return isName(s) }
