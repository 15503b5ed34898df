package cli

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/rotatord/rotatord/internal/daemon"
	"github.com/rotatord/rotatord/internal/demo"
)

func runDemo(ctx context.Context, env *Env, args []string) int {
	var listen, dir, fail string
	var discover bool
	c, code, ok := inventoryFlags{name: "demo", synopsis: "[-listen ADDR] [-fail NAME]",
		help: "Runs the real daemon against in-process emulators of Power BI, Fabric, Key Vault and Entra ID,\n" +
			"with a sample inventory covering every credential type, both gateway key sizes and a gateway cluster.\n" +
			"Metrics are served on -listen until Ctrl-C.\n",
		more: func(fs *flag.FlagSet) {
			fs.StringVar(&listen, "listen", "127.0.0.1:9464", "metrics and health `ADDR`")
			fs.StringVar(&dir, "dir", "", "`DIR` for the demo inventory, secrets and state (default: a new temporary directory)")
			fs.StringVar(&fail, "fail", "", "make data source `NAME` fail (sales-sql, ledger-key or blob-sas): its secret is missing;\n"+
				"or rejected: sales-sql's database refuses every new password, so verification fails")
			fs.BoolVar(&discover, "discover", false, "print what `rotatord discover` finds in the emulated Power BI (gateways and the\n"+
				"demo's two workspaces) and Fabric (connections) as an inventory, and exit, instead of running the daemon")
		}}.parse(env, args)
	if !ok {
		return code
	}
	switch fail {
	case "", "sales-sql", "ledger-key", "blob-sas", demo.FailRejected:
	default:
		fmt.Fprintf(env.Stderr, "rotatord demo: -fail %q: want sales-sql, ledger-key, blob-sas or rejected\n", fail)
		return ExitUsage
	}
	if dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			fmt.Fprintf(env.Stderr, "rotatord demo: -dir: %v\n", err)
			return ExitUsage
		}
	} else {
		tmp, err := os.MkdirTemp("", "rotatord-demo-")
		if err != nil {
			fmt.Fprintf(env.Stderr, "rotatord demo: %v\n", err)
			return ExitFailure
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	dm, err := demo.Start(demo.Options{Dir: dir, Listen: listen, Fail: fail})
	if err != nil {
		fmt.Fprintf(env.Stderr, "rotatord demo: %v\n", err)
		return ExitFailure
	}
	defer dm.Close()
	c.config = dm.ConfigPath
	if discover {
		return discoverWith(ctx, env, []string{"-config", dm.ConfigPath}, daemon.Options{Transport: dm.Stack.CA.Client(), LookupEnv: dm.LookupEnv})
	}
	fmt.Fprintf(env.Stdout, "rotatord demo: emulated Power BI at %s, Key Vault at %s\n", dm.Stack.PowerBIURL, dm.Stack.KeyVaultURL)
	fmt.Fprintf(env.Stdout, "rotatord demo: inventory %s; metrics http://%s/metrics; Ctrl-C to stop\n", dm.ConfigPath, listen)
	return serve(ctx, env, "demo", c, daemon.Options{
		Transport:     dm.Stack.CA.Client(),
		LookupEnv:     dm.LookupEnv,
		RotateAtStart: true,
	})
}
