package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/rotatord/rotatord/internal/config"
	"github.com/rotatord/rotatord/internal/daemon"
	"github.com/rotatord/rotatord/internal/discover"
	"github.com/rotatord/rotatord/internal/pbi"
)

// discoverFlags are discover's own flags.
type discoverFlags struct {
	gateways, workspaces names
	keyvault             string
	diff                 bool
	output               string
}

func runDiscover(ctx context.Context, env *Env, args []string) int {
	return discoverWith(ctx, env, args, daemon.Options{})
}

// discoverWith runs discover with the daemon options o: demo's trust the
// emulators.
func discoverWith(ctx context.Context, env *Env, args []string, o daemon.Options) int {
	var f discoverFlags
	c, code, ok := inventoryFlags{name: "discover", noDefaultConfig: true,
		synopsis: "[-config FILE] [-gateway ID]... [-workspace ID]... [-keyvault NAME] [-diff [-output text|json]]",
		help: "Lists the gateways rotatord's identity administers, their data sources and users, the\n" +
			"data sources of each -workspace's datasets and the Fabric connections it may use, and prints them\n" +
			"as an inventory that `rotatord check` accepts (the settings of -config kept, its data sources, if\n" +
			"any, replaced). With -diff, compares them with the inventory in -config instead: one line per\n" +
			"drift. Without -config, the identity is auth.method default. Exits 0 when everything could be\n" +
			"read (with -diff: and nothing drifted), 1 when something could not be read or drifted, 2 on bad\n" +
			"usage or configuration.\n",
		more: func(fs *flag.FlagSet) {
			fs.Var(&f.gateways, "gateway", "list only gateway `ID` (repeatable; default: discover_gateways, else every gateway)")
			fs.Var(&f.workspaces, "workspace", "list the data sources of workspace `ID`'s datasets, cloud ones included (repeatable; default: discover_workspaces)")
			fs.StringVar(&f.keyvault, "keyvault", "", "the vault `NAME` the printed sources use (default: the config's first, else a placeholder)")
			fs.BoolVar(&f.diff, "diff", false, "compare with the inventory in -config instead of printing one")
			fs.StringVar(&f.output, "output", "text", "-diff's `format`: text or json")
		}}.parse(env, args)
	if !ok {
		return code
	}
	cfg, header, code := f.config(ctx, env, c.config)
	if cfg == nil {
		return code
	}
	o.NoState = true
	d, code := newDaemon(env, "discover", c, cfg, o)
	if d == nil {
		return code
	}
	defer d.Close()

	do := daemon.DiscoverOptions(cfg, f.gateways, f.workspaces)
	if !f.diff {
		do.Known, do.KnownConnections = nil, nil
	}
	if isTerminal(env.Stderr) {
		do.Progress = func(p discover.Progress) {
			fmt.Fprintf(env.Stderr, "\rrotatord discover: %d/%d gateways, %d data sources, users of %d/%d, %d Fabric connections, roles of %d/%d ",
				p.Gateways, p.GatewaysTotal, p.Datasources, p.Users, p.UsersTotal, p.Connections, p.Roles, p.RolesTotal)
		}
	}
	e := d.Discover(ctx, do)
	if do.Progress != nil {
		fmt.Fprintln(env.Stderr)
	}
	if ctx.Err() != nil {
		// A stop cut the listing short: half an inventory redirected into
		// a file would pass for a whole one.
		fmt.Fprintln(env.Stderr, "rotatord discover: interrupted; nothing printed")
		return ExitFailure
	}
	for _, p := range e.Problems {
		fmt.Fprintf(env.Stderr, "rotatord discover: %s\n", p)
	}
	if f.diff {
		return f.printDiff(env, e, cfg)
	}
	return f.printInventory(env, e, cfg, header, do)
}

// config checks the flags and reads the inventory, before any call: a bad
// one exits 2. Without -config it is the built-in settings.
func (f *discoverFlags) config(ctx context.Context, env *Env, path string) (cfg *config.Config, header []byte, code int) {
	usage := func(format string, args ...any) (*config.Config, []byte, int) {
		fmt.Fprintf(env.Stderr, "rotatord discover: "+format+"\n", args...)
		return nil, nil, ExitUsage
	}
	switch {
	case f.output != "text" && f.output != "json":
		return usage("-output %q: want text or json", f.output)
	case f.output != "text" && !f.diff:
		return usage("-output is for -diff; the inventory is printed as YAML")
	case f.diff && path == "":
		return usage("-diff needs -config: the inventory to compare with")
	case f.diff && f.keyvault != "":
		return usage("-keyvault names the vault of a printed inventory; -diff prints none")
	case f.keyvault != "" && !config.IsName(f.keyvault):
		return usage("-keyvault %q: a vault name is letters, digits, '.', '_' or '-'", f.keyvault)
	}
	for _, id := range append(append([]string{}, f.gateways...), f.workspaces...) {
		if !pbi.IsUUID(id) {
			return usage("%q is not a gateway or workspace id (a UUID, e.g. 1f69e798-5852-4fdd-ab01-33bb14b6e934)", id)
		}
	}
	if path == "" {
		return config.Builtin("(built-in settings)"), nil, ExitOK
	}
	data, err := config.Read(ctx, path)
	if err != nil {
		return usage("%v", err)
	}
	parse := config.ParseSettings // a config to start from needs no data source yet
	if f.diff {
		parse = config.Parse
	}
	if cfg, err = parse(path, data); err != nil {
		fmt.Fprintln(env.Stderr, err) // FILE:LINE: message, as check prints them
		return nil, nil, ExitUsage
	}
	if _, ok := cfg.KeyVaults[f.keyvault]; f.keyvault != "" && !ok && len(cfg.KeyVaults) > 0 {
		vaults := make([]string, 0, len(cfg.KeyVaults))
		for name := range cfg.KeyVaults {
			vaults = append(vaults, name)
		}
		sort.Strings(vaults)
		return usage("-keyvault %s: %s declares no such vault (it has %s)", f.keyvault, path, strings.Join(vaults, ", "))
	}
	return cfg, data, ExitOK
}

// printInventory prints the discovered inventory, after checking that it
// passes check: what discover prints must be usable as it is.
func (f *discoverFlags) printInventory(env *Env, e *discover.Estate, cfg *config.Config, header []byte, o discover.Options) int {
	what := "Printed by rotatord discover"
	if len(o.Gateways) > 0 {
		what += " -gateway " + strings.Join(o.Gateways, " -gateway ")
	}
	if len(o.Workspaces) > 0 {
		what += " -workspace " + strings.Join(o.Workspaces, " -workspace ")
	}
	out, n, err := discover.Render(e, discover.RenderOptions{Header: header, KeyVault: f.keyvault, What: what + "."})
	if err != nil {
		fmt.Fprintf(env.Stderr, "rotatord discover: %v\n", err)
		return ExitFailure
	}
	if _, err := env.Stdout.Write(out); err != nil {
		fmt.Fprintf(env.Stderr, "rotatord discover: %v\n", err)
		return ExitFailure
	}
	if n == 0 {
		fmt.Fprintln(env.Stderr, "rotatord discover: found no data source rotatord can rotate; the comments say what was left out")
		return ExitFailure
	}
	if _, err := config.Parse("the printed inventory", out); err != nil {
		// A defect of discover's, not the operator's: say so, with check's words.
		fmt.Fprintf(env.Stderr, "rotatord discover: the printed inventory fails check, please report it: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stderr, "rotatord discover: %d data sources printed", n)
	if len(cfg.KeyVaults) == 0 { // else -keyvault names one of them, or the first is used
		fmt.Fprintf(env.Stderr, "; write your vault's URL in place of the placeholder under keyvaults")
	}
	fmt.Fprintln(env.Stderr, "; `rotatord plan` lists the secrets to create")
	if !e.Complete() {
		return ExitFailure
	}
	return ExitOK
}

// printDiff prints how the estate and the inventory differ.
func (f *discoverFlags) printDiff(env *Env, e *discover.Estate, cfg *config.Config) int {
	r := discover.Diff(e, cfg)
	write := r.WriteText
	if f.output == "json" {
		write = r.WriteJSON
	}
	if err := write(env.Stdout); err != nil {
		fmt.Fprintf(env.Stderr, "rotatord discover: %v\n", err)
		return ExitFailure
	}
	counts := r.Counts()
	var parts []string
	for _, k := range discover.Kinds() {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	fmt.Fprintf(env.Stderr, "rotatord discover: %s: drift %s", cfg.Path, strings.Join(parts, ", "))
	if n := len(r.Unchecked); n > 0 {
		fmt.Fprintf(env.Stderr, "; %d entries not compared", n)
	}
	fmt.Fprintln(env.Stderr)
	if r.Drifted() || !e.Complete() || len(r.Unchecked) > 0 {
		return ExitFailure
	}
	return ExitOK
}

// isTerminal reports whether w is a terminal, where progress may be
// redrawn in place; a journal or a pipe gets none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
