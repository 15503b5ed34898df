package config

import "regexp"

var (
	// tenantRE accepts a tenant's domain name; UUIDs match it too.
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$`)
	// nameRE keeps data source names usable as metric labels, CLI arguments
	// and log values without quoting.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// secretNameRE is Key Vault's own rule for secret names; checking it here
	// turns a typo like sales_sql into a config error instead of a 400 at 3 am.
	secretNameRE = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)
	// versionRE: a version is one URL path segment.
	versionRE = regexp.MustCompile(`^[0-9A-Za-z-]{1,64}$`)
	envRE     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func isTenant(s string) bool     { return len(s) <= 253 && tenantRE.MatchString(s) }
func isName(s string) bool       { return nameRE.MatchString(s) }
func isSecretName(s string) bool { return secretNameRE.MatchString(s) }
func isVersion(s string) bool    { return versionRE.MatchString(s) }
func isEnvName(s string) bool    { return envRE.MatchString(s) }
