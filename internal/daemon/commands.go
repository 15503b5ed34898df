package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/rotate"
)

// UnknownDatasourceError is returned by Once for a name not in the inventory.
type UnknownDatasourceError struct{ Name string }

func (e *UnknownDatasourceError) Error() string {
	return fmt.Sprintf("no datasource named %q in the inventory", e.Name)
}

// selected returns the data sources named in only (all when only is empty).
func selected(cfg *config.Config, only []string) ([]config.Datasource, error) {
	if len(only) == 0 {
		return cfg.Datasources, nil
	}
	out := make([]config.Datasource, 0, len(only))
	for _, name := range only {
		ds, ok := cfg.Datasource(name)
		if !ok {
			return nil, &UnknownDatasourceError{Name: name}
		}
		out = append(out, ds)
	}
	return out, nil
}

// workers is how many data sources are worked on at once: more than the
// Power BI concurrency, so that secret fetching and encryption overlap the
// Power BI calls, which the transport bounds.
func workers(cfg *config.Config) int { return 4 * cfg.PowerBI.MaxConcurrency }

// Once rotates the selected data sources now, each with its retries, writes
// the state file and returns how many failed.
func (d *Daemon) Once(ctx context.Context, only []string) (failed int, err error) {
	cfg := d.cfg.Load()
	list, err := selected(cfg, only)
	if err != nil {
		return 0, err
	}
	if err := d.LoadState(ctx); err != nil {
		return 0, err
	}
	if cfg.HA.Enabled() {
		d.log.Warn("once takes no lease: it rotates now even if a rotatord of this inventory leads", "lease_blob", cfg.HA.LeaseBlob)
	}
	var n atomic.Int64
	var g errgroup.Group
	g.SetLimit(workers(cfg))
	for _, ds := range list {
		g.Go(func() error {
			if err := d.sched.RunNow(ctx, ds.Name); err != nil {
				n.Add(1)
			}
			return nil
		})
	}
	_ = g.Wait()
	d.saveState(context.WithoutCancel(ctx)) // what was rotated is recorded, even after a Ctrl-C
	return int(n.Load()), nil
}

// Plan prints what a rotation of every data source would do, changing
// nothing, and returns how many data sources could not be planned.
func (d *Daemon) Plan(ctx context.Context, w io.Writer) int {
	cfg := d.cfg.Load()
	plans := make([]rotate.Plan, len(cfg.Datasources))
	errs := make([]error, len(cfg.Datasources))
	var g errgroup.Group
	g.SetLimit(workers(cfg))
	for i, ds := range cfg.Datasources {
		g.Go(func() error {
			plans[i], errs[i] = d.rot.Plan(ctx, ds)
			return nil
		})
	}
	_ = g.Wait()

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASOURCE\tTYPE\tGATEWAY KEY\tSOURCE VERSION\tEXPIRES\tVERIFIES NOW\tPATCH\tUSERS")
	failed := 0
	for i, ds := range cfg.Datasources {
		p := plans[i]
		if errs[i] != nil {
			failed++
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\tERROR\t%s\n", ds.Name, ds.CredentialType, planError(errs[i]))
			continue
		}
		key := gatewayKey(p)
		patch := "yes"
		if !p.Patch {
			patch = "no (unchanged)"
		}
		verifies := "-" // verify: false
		if p.Check != nil {
			verifies = checkResult(*p.Check)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ds.Name, ds.CredentialType, key,
			orDash(p.SourceVersion), orDash(formatTime(p.ExpiresAt)), verifies, patch, describeUsers(p))
	}
	_ = tw.Flush()
	printMissing(w, cfg, plans)
	return failed
}

// printMissing lists, by vault, the Key Vault secrets the plan found
// missing: after `rotatord discover`, what is left to create.
func printMissing(w io.Writer, cfg *config.Config, plans []rotate.Plan) {
	byVault := map[string][]string{}
	for i, ds := range cfg.Datasources {
		byVault[ds.Source.KeyVault] = append(byVault[ds.Source.KeyVault], plans[i].MissingSecrets...)
	}
	for _, vault := range slices.Sorted(maps.Keys(byVault)) {
		if names := byVault[vault]; len(names) > 0 {
			fmt.Fprintf(w, "\nKey Vault secrets to create in %s (%s):\n  %s\n", vault, cfg.KeyVaults[vault], strings.Join(names, "\n  "))
		}
	}
}

// checkResult is a check in a word or two: "yes", "no: REASON" when the
// service said why it did not connect, "unknown: REASON" when the status
// call itself failed.
func checkResult(c rotate.Check) string {
	switch {
	case c.Connected():
		return "yes"
	case c.Conclusive():
		return "no: " + c.Reason
	}
	return "unknown: " + c.Reason
}

// Verify checks, for every data source (or those only names), whether the
// credential Power BI holds connects, and prints one line each. It reads no
// secret and changes nothing, the state file included. It returns how many
// did not connect; data sources with verify: false are listed as skipped
// and not counted.
func (d *Daemon) Verify(ctx context.Context, w io.Writer, only []string) (failed int, err error) {
	cfg := d.cfg.Load()
	list, err := selected(cfg, only)
	if err != nil {
		return 0, err
	}
	checks := make([]*rotate.Check, len(list))
	var g errgroup.Group
	g.SetLimit(workers(cfg))
	for i, ds := range list {
		if !ds.Verify {
			continue
		}
		g.Go(func() error {
			c := d.rot.Check(ctx, ds)
			checks[i] = &c
			return nil
		})
	}
	_ = g.Wait()

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATASOURCE\tRESULT\tREASON\tDETAIL")
	for i, ds := range list {
		c := checks[i]
		switch {
		case c == nil:
			fmt.Fprintf(tw, "%s\tskipped\t-\tverify: false\n", ds.Name)
		case c.Connected():
			fmt.Fprintf(tw, "%s\tconnected\t-\t-\n", ds.Name)
		default:
			failed++
			result := "failed"
			if !c.Conclusive() {
				result = "unknown"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ds.Name, result, c.Reason, planError(c.Err))
		}
	}
	_ = tw.Flush()
	return failed, nil
}

// planError is err without the data source's name, which starts its row.
func planError(err error) string {
	var re *rotate.Error
	if errors.As(err, &re) {
		return fmt.Sprintf("%s: %s", re.Stage, re.Detail())
	}
	return err.Error()
}

// gatewayKey says what the credential is encrypted with: a gateway's key,
// each member's of a Fabric cluster, or nothing for cloud connections.
func gatewayKey(p rotate.Plan) string {
	switch {
	case p.KeyBits > 0:
		return fmt.Sprintf("RSA-%d", p.KeyBits)
	case len(p.MemberBits) > 0:
		bits := make([]string, len(p.MemberBits))
		for i, b := range p.MemberBits {
			bits[i] = strconv.Itoa(b)
		}
		return fmt.Sprintf("%d members: RSA-%s", len(bits), strings.Join(bits, "/"))
	case p.Connectivity != "":
		return "none (" + p.Connectivity + ")"
	}
	return "none (cloud)"
}

func describeUsers(p rotate.Plan) string {
	var parts []string
	for _, u := range p.UsersToAdd {
		parts = append(parts, "+"+who(u.EmailAddress, u.Identifier)+":"+u.DatasourceAccessRight)
	}
	for _, u := range p.UsersToRemove {
		parts = append(parts, "-"+who(u.EmailAddress, u.Identifier))
	}
	for _, a := range p.RolesToSet {
		parts = append(parts, "+"+a.PrincipalID+":"+a.Role)
	}
	for _, a := range p.RolesToRemove {
		parts = append(parts, "-"+a.PrincipalID)
	}
	if len(parts) == 0 {
		return "in sync"
	}
	return strings.Join(parts, " ")
}

func who(email, id string) string {
	if email != "" {
		return email
	}
	return id
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
