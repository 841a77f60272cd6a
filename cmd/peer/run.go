package main

import (
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/node"
	"github.com/shoal-sched/shoal/placement"
)

// runFlags are `peer run`'s flags; each overrides the config file when given.
type runFlags struct {
	dev                          bool
	config                       string
	name, dataDir, bind, adv, dc string
	join, retryJoin              []string
	httpPort, rpcPort, gossPort  int
	logLevel, logFormat, encrypt string
	class                        string
	hostVolumes                  []string
}

// catchHangup catches SIGHUP for the peer's life, and ignores it (there is no
// configuration to reload yet). A peer started with SIGHUP ignored (nohup, some
// service managers) would otherwise pass that on to every task it starts: a task
// could then neither be stopped by SIGHUP nor trap it (a shell cannot trap a signal
// ignored on entry), and a template's change_signal = "SIGHUP" would do nothing. A
// caught signal is reset to its default in the tasks, as exec does to every handler.
func catchHangup(log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			log.Info("SIGHUP received: nothing to reload; SIGINT or SIGTERM leave the cluster")
		}
	}()
}

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [-dev | -config FILE] [flags]",
		Short: "Run the peer agent on this host",
		Long: `Runs the Shoal peer: gossip with the other peers, the HTTP API, the coordinator for
the jobs this peer coordinates, and the tasks placed on it. Every host runs it.

  peer run -dev                       one peer on loopback, data in a temp dir
  peer run -config /etc/shoal/peer.hcl
  peer run -name a -data-dir /var/lib/shoal -bind 10.0.0.5 -join 10.0.0.2

Flags override the config file. SIGINT/SIGTERM leave the cluster gracefully (the
peer's allocations are stopped and replaced elsewhere at once); a peer killed with
SIGKILL and restarted with the same data dir reattaches to its running tasks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, cleanup, err := f.config_(cmd)
			if err != nil {
				return err
			}
			// Where overlayfs cannot protect the binary cheaply for each container
			// (its directory and the data dir overlap), run from a sealed copy made
			// once instead of one copy per container start (exec.SealSelf).
			if why, needed := node.DriverConfig(cfg).SealNeeded(); needed {
				fmt.Fprintf(cmd.ErrOrStderr(), "==> %s: running from a sealed in-memory copy of the binary\n", why)
				if f.dev {
					cleanup() // the re-executed peer makes its own temporary data dir
				}
				if err := exec.SealSelf(); err != nil { // returns only if it did not re-execute
					fmt.Fprintf(cmd.ErrOrStderr(), "==> warning: %v; every container start will copy the binary\n", err)
					if f.dev {
						if cfg, cleanup, err = f.config_(cmd); err != nil {
							return err
						}
					}
				}
			}
			defer cleanup()
			level, _ := node.ParseLogLevel(cfg.LogLevel)
			opts := &slog.HandlerOptions{Level: level}
			var h slog.Handler = slog.NewTextHandler(os.Stderr, opts)
			if cfg.LogFormat == "json" {
				h = slog.NewJSONHandler(os.Stderr, opts)
			}
			cfg.Logger = slog.New(h)
			catchHangup(cfg.Logger)
			// Containers boot the small init attached to this binary (make build
			// attaches cmd/shoal-init), not the whole peer.
			if err := exec.UseAttachedInit(filepath.Join(node.DriverConfig(cfg).DataDir, "init")); err != nil {
				cfg.Logger.Warn("containers run this binary as their init, which starts slower", "reason", err.Error())
			}
			node.Version = version
			n, err := node.New(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "==> Shoal peer %q (id %s) running; API on http://%s\n", cfg.Name, n.ID(), n.HTTPAddr())
			return n.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&f.dev, "dev", false, "development mode: one peer on 127.0.0.1, data in a temp dir, fast timings")
	fl.StringVar(&f.config, "config", "", "HCL agent config file (peer.hcl)")
	fl.StringVar(&f.name, "name", "", "unique peer name (default: the hostname)")
	fl.StringVar(&f.dataDir, "data-dir", "", "directory for the peer's state and tasks")
	fl.StringVar(&f.bind, "bind", "", "address every listener binds (default 0.0.0.0; 127.0.0.1 with -dev)")
	fl.StringVar(&f.adv, "advertise", "", "address other peers reach this one at")
	fl.StringArrayVar(&f.join, "join", nil, "peer to join at start, ADDR[:PORT] (repeatable)")
	fl.StringArrayVar(&f.retryJoin, "retry-join", nil, "peer to join, retried until it answers (repeatable)")
	fl.IntVar(&f.httpPort, "http-port", 0, fmt.Sprintf("HTTP API port (default %d)", node.DefaultHTTPPort))
	fl.IntVar(&f.rpcPort, "rpc-port", 0, fmt.Sprintf("peer-to-peer RPC port (default %d)", node.DefaultRPCPort))
	fl.IntVar(&f.gossPort, "gossip-port", 0, fmt.Sprintf("gossip (serf) port (default %d)", node.DefaultGossipPort))
	fl.StringVar(&f.dc, "dc", "", "datacenter (default dc1)")
	fl.StringVar(&f.class, "node-class", "", "node class constraints can select on")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (default info)")
	fl.StringVar(&f.logFormat, "log-format", "", "text or json (default text)")
	fl.StringVar(&f.encrypt, "encrypt", "", "base64 gossip encryption key (16, 24 or 32 bytes)")
	fl.StringArrayVar(&f.hostVolumes, "host-volume", nil, "host volume jobs may mount, NAME=PATH or NAME=PATH:ro, as a host_volume block (repeatable)")
	return cmd
}

// config_ builds the Config: defaults (or dev defaults), then the file, then flags.
// cleanup removes the dev data dir.
func (f *runFlags) config_(cmd *cobra.Command) (node.Config, func(), error) {
	cleanup := func() {}
	cfg := node.DefaultConfig()
	if f.dev {
		cfg = node.DevConfig()
	}
	if f.config != "" {
		var err error
		if cfg, err = node.LoadConfigFile(f.config, cfg); err != nil {
			return cfg, cleanup, err
		}
	}
	ch := cmd.Flags().Changed
	set := func(name string, dst *string, v string) {
		if ch(name) {
			*dst = v
		}
	}
	set("name", &cfg.Name, f.name)
	set("data-dir", &cfg.DataDir, f.dataDir)
	set("bind", &cfg.BindAddr, f.bind)
	set("advertise", &cfg.AdvertiseAddr, f.adv)
	set("dc", &cfg.Datacenter, f.dc)
	set("node-class", &cfg.NodeClass, f.class)
	set("log-level", &cfg.LogLevel, f.logLevel)
	set("log-format", &cfg.LogFormat, f.logFormat)
	set("encrypt", &cfg.EncryptKey, f.encrypt)
	for name, p := range map[string]struct {
		dst *int
		v   int
	}{"http-port": {&cfg.HTTPPort, f.httpPort}, "rpc-port": {&cfg.RPCPort, f.rpcPort}, "gossip-port": {&cfg.GossipPort, f.gossPort}} {
		if ch(name) {
			*p.dst = p.v
		}
	}
	cfg.Join = append(cfg.Join, f.join...)
	cfg.RetryJoin = append(cfg.RetryJoin, f.retryJoin...)
	if len(f.hostVolumes) > 0 {
		cfg.HostVolumes = maps.Clone(cfg.HostVolumes)
		if cfg.HostVolumes == nil {
			cfg.HostVolumes = map[string]placement.HostVolume{}
		}
		for _, hv := range f.hostVolumes {
			name, path, ok := strings.Cut(hv, "=")
			if !ok || name == "" {
				return cfg, cleanup, fmt.Errorf("-host-volume %q: want NAME=PATH or NAME=PATH:ro", hv)
			}
			path, ro := strings.CutSuffix(path, ":ro")
			cfg.HostVolumes[name] = placement.HostVolume{Path: path, ReadOnly: ro}
		}
	}
	if f.dev && cfg.DataDir == "" {
		dir, err := os.MkdirTemp("", "shoal-dev-")
		if err != nil {
			return cfg, cleanup, err
		}
		cfg.DataDir = dir
		cleanup = func() {
			if err := node.RemoveDataDir(dir); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "removing the dev data dir: %v\n", err)
			}
		}
	}
	if err := cfg.Validate(); err != nil {
		cleanup()
		return cfg, func() {}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, cleanup, nil
}
