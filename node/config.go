package node

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/shoal-sched/shoal/exec"
	"github.com/shoal-sched/shoal/node/bridge"
	"github.com/shoal-sched/shoal/placement"
)

// Config is what a peer needs to start. It is a value: New copies what it needs and
// never mutates it. Build one with DefaultConfig or DevConfig, overlay a file with
// LoadConfigFile, then command-line flags, and call Validate.
type Config struct {
	// Name is this peer's gossip name; unique in the cluster. Default: the hostname.
	Name string
	// DataDir holds the bbolt store (identity, jobs, allocations) and the container
	// state. Required outside dev mode.
	DataDir string
	// BindAddr is the address every listener binds. Default 0.0.0.0.
	BindAddr string
	// AdvertiseAddr is the address other peers reach this one at. Default: BindAddr if
	// it is not a wildcard, else the first private address of the host.
	AdvertiseAddr string
	// HTTPPort serves the API (default 4646), RPCPort the peer-to-peer RPC (default
	// 4647), GossipPort serf/memberlist (default 4648), as in Nomad.
	HTTPPort, RPCPort, GossipPort int
	// Join lists peers to join at start (addr or addr:port); RetryJoin the same but
	// retried every RetryInterval until one answers.
	Join, RetryJoin []string
	// RetryInterval between retry_join attempts. Default 5s (1s in dev).
	RetryInterval time.Duration
	// Datacenter of this peer (default "dc1"); jobs name the datacenters they run in.
	Datacenter string
	// NodeClass is a free-form class constraints can select on (${node.class}).
	NodeClass string
	// Meta is free-form metadata constraints can select on (${meta.key}).
	Meta map[string]string
	// ReservedCPU (MHz) and ReservedMemoryMB are kept back for the host itself.
	ReservedCPU, ReservedMemoryMB int
	// EncryptKey is the base64 gossip key (16, 24 or 32 bytes); empty means no encryption.
	EncryptKey string
	// Drivers enabled on this peer: "exec" and/or "container" (default both).
	Drivers []string
	// AllowCaps are the capabilities a container task may have on this peer (Nomad's
	// docker allow_caps): its defaults less cap_drop plus cap_add must all be in it.
	// Nil: the defaults (Docker's without net_raw), as Nomad's.
	AllowCaps []string
	// HostVolumes are directories of this host that allocations may mount, by name
	// (Nomad's client host_volume): a group's volume "x" { source = NAME } needs a
	// peer that has NAME. Paths are absolute directories; none by default.
	HostVolumes map[string]placement.HostVolume
	// LogLevel is debug, info, warn or error (default info); LogFormat text or json.
	LogLevel, LogFormat string
	// Dev selects fast gossip timings for a cluster on one host (loopback).
	Dev bool
	// EnableDebug serves Go's profiles under /debug/pprof/ on the HTTP API
	// (Nomad's enable_debug; on in -dev, as Nomad's dev agent).
	EnableDebug bool

	// CNIPath holds the CNI plugins that bridge network mode runs (Nomad's
	// cni_path). Default /usr/lib/cni (Debian's containernetworking-plugins).
	CNIPath string
	// BridgeNetworkName is the bridge that bridge-mode allocations attach to and
	// its CNI network name (Nomad's bridge_network_name). Default "shoal".
	BridgeNetworkName string
	// BridgeNetworkSubnet is where bridge-mode allocations get their addresses
	// (Nomad's bridge_network_subnet). Default 172.26.64.0/20, as Nomad's.
	BridgeNetworkSubnet string

	// ReconcileInterval is how often a coordinator re-checks its jobs even without
	// a change (default 2s).
	ReconcileInterval time.Duration
	// BidTimeout bounds one bid or award round trip to one peer (default 2s).
	BidTimeout time.Duration

	// Terminal allocations of jobs the catalog still holds are collected (their
	// records leave every peer's table, their task directories and logs go) by
	// their peer, except those the coordinators still read (see placement.Collect):
	// AllocGCThreshold after they ended (alloc_gc_threshold; Nomad's servers collect
	// allocations with their evaluations, eval_gc_threshold: default 1h), and
	// beyond GCMaxAllocs terminal allocations on the peer, oldest first
	// (gc_max_allocs, as Nomad's client: default 50). GCInterval is how often the
	// peer looks (gc_interval, as Nomad's client: default 1m); an allocation that
	// ends makes it look at once too. A purged job's allocations go within seconds.
	AllocGCThreshold time.Duration
	GCMaxAllocs      int
	GCInterval       time.Duration
	// A job done for good (stopped with every allocation ended, or a batch job
	// with every slot complete; placement.JobDone) for JobGCThreshold is purged by
	// its coordinator, and so are a periodic job's finished children
	// (job_gc_threshold, as Nomad's servers: default 4h).
	JobGCThreshold time.Duration

	// Logger receives the peer's logs; nil means discard. Not read from files.
	Logger *slog.Logger
}

// Default ports, as Nomad's agent.
const (
	DefaultHTTPPort   = 4646
	DefaultRPCPort    = 4647
	DefaultGossipPort = 4648
)

// DefaultConfig is a peer for a real host: every listener on all addresses, LAN gossip
// timings tuned for fast failure detection.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	br := bridge.DefaultConfig()
	return Config{
		Name:              host,              // gossip names must be unique: hostnames usually are
		BindAddr:          "0.0.0.0",         // all interfaces, as Nomad
		HTTPPort:          DefaultHTTPPort,   // Nomad's HTTP port
		RPCPort:           DefaultRPCPort,    // Nomad's RPC port
		GossipPort:        DefaultGossipPort, // Nomad's serf port
		RetryInterval:     5 * time.Second,   // Nomad's retry_interval default is 30s; we are cheaper
		Datacenter:        "dc1",             // Nomad's default datacenter
		Drivers:           []string{"exec", "container"},
		LogLevel:          "info",
		LogFormat:         "text",
		ReconcileInterval: 2 * time.Second, // a safety net: changes trigger reconciles at once
		BidTimeout:        time.Second,     // one peer's bid or award round trip on a LAN
		AllocGCThreshold:  time.Hour,       // Nomad's eval_gc_threshold: long enough to read a failure's logs
		GCMaxAllocs:       50,              // Nomad's client gc_max_allocs
		GCInterval:        time.Minute,     // Nomad's client gc_interval
		JobGCThreshold:    4 * time.Hour,   // Nomad's job_gc_threshold
		Meta:              map[string]string{},
		// Bridge networking: bridge.DefaultConfig's values, so that they are set once.
		CNIPath:             br.PluginDir, // /usr/lib/cni, where Debian installs the reference plugins
		BridgeNetworkName:   br.Name,      // "shoal"; Nomad's is "nomad"
		BridgeNetworkSubnet: br.Subnet,    // 172.26.64.0/20, Nomad's default subnet
	}
}

// DevConfig is one peer on loopback with its data in a fresh temp dir (the caller
// removes it) and fast timings; `peer run -dev`.
func DevConfig() Config {
	c := DefaultConfig()
	c.Dev = true
	c.BindAddr = "127.0.0.1"
	c.AdvertiseAddr = "127.0.0.1"
	c.RetryInterval = time.Second
	c.LogLevel = "debug"
	c.EnableDebug = true
	return c
}

// fileConfig is the HCL shape of peer.hcl (Nomad agent style).
type fileConfig struct {
	Name       *string       `hcl:"name,optional"`
	DataDir    *string       `hcl:"data_dir,optional"`
	BindAddr   *string       `hcl:"bind_addr,optional"`
	Advertise  *string       `hcl:"advertise,optional"`
	Ports      *filePorts    `hcl:"ports,block"`
	Join       []string      `hcl:"join,optional"`
	RetryJoin  []string      `hcl:"retry_join,optional"`
	ServerJoin *fileJoin     `hcl:"server_join,block"`
	Datacenter *string       `hcl:"datacenter,optional"`
	NodeClass  *string       `hcl:"node_class,optional"`
	Meta       *fileMeta     `hcl:"meta,block"`
	Reserved   *fileReserved `hcl:"reserved,block"`
	Encrypt    *string       `hcl:"encrypt,optional"`
	Drivers    []string      `hcl:"drivers,optional"`
	AllowCaps  []string      `hcl:"allow_caps,optional"`
	LogLevel   *string       `hcl:"log_level,optional"`
	LogFormat  *string       `hcl:"log_format,optional"`
	Debug      *bool         `hcl:"enable_debug,optional"`
	CNIPath    *string       `hcl:"cni_path,optional"`
	BridgeName *string       `hcl:"bridge_network_name,optional"`
	BridgeNet  *string       `hcl:"bridge_network_subnet,optional"`
	Remain     hcl.Body      `hcl:",remain"`
}

type filePorts struct {
	HTTP   *int `hcl:"http,optional"`
	RPC    *int `hcl:"rpc,optional"`
	Gossip *int `hcl:"gossip,optional"`
	Serf   *int `hcl:"serf,optional"` // Nomad's name for the gossip port
}

type fileJoin struct {
	RetryJoin     []string `hcl:"retry_join,optional"`
	RetryInterval *string  `hcl:"retry_interval,optional"`
}

type fileMeta struct {
	Body hcl.Body `hcl:",remain"`
}

type fileReserved struct {
	CPU    *int `hcl:"cpu,optional"`
	Memory *int `hcl:"memory,optional"`
}

// knownConfigFields are the top-level names peer.hcl accepts.
var knownConfigFields = []string{"name", "data_dir", "bind_addr", "advertise", "ports", "join", "retry_join",
	"server_join", "datacenter", "node_class", "meta", "reserved", "encrypt", "drivers", "allow_caps", "log_level", "log_format",
	"enable_debug", "cni_path", "bridge_network_name", "bridge_network_subnet", "host_volume",
	"alloc_gc_threshold", "gc_max_allocs", "gc_interval", "job_gc_threshold"}

// LoadConfigFile reads an HCL agent config and overlays every attribute it sets on
// base. Errors name the file, line and column, the field and the value.
func LoadConfigFile(path string, base Config) (Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("reading config: %w", err)
	}
	return ParseConfig(path, src, base)
}

// ParseConfig is LoadConfigFile on bytes already read; filename is used in errors.
func ParseConfig(filename string, src []byte, base Config) (Config, error) {
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return base, diagError(diags)
	}
	var fc fileConfig
	if diags := gohcl.DecodeBody(f.Body, nil, &fc); diags.HasErrors() {
		return base, diagError(namedFields(f.Body, src, diags))
	}
	// Unknown attributes or blocks, named with what is accepted.
	if body, ok := f.Body.(*hclsyntax.Body); ok {
		known := map[string]bool{}
		for _, k := range knownConfigFields {
			known[k] = true
		}
		for name, a := range body.Attributes {
			if !known[name] {
				return base, fmt.Errorf("%s: unknown field %q (accepted: %s)", a.SrcRange, name, strings.Join(knownConfigFields, ", "))
			}
		}
		for _, b := range body.Blocks {
			if !known[b.Type] {
				return base, fmt.Errorf("%s: unknown block %q (accepted: %s)", b.TypeRange, b.Type, strings.Join(knownConfigFields, ", "))
			}
		}
	}
	c := base
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&c.Name, fc.Name)
	set(&c.DataDir, fc.DataDir)
	set(&c.BindAddr, fc.BindAddr)
	set(&c.AdvertiseAddr, fc.Advertise)
	set(&c.Datacenter, fc.Datacenter)
	set(&c.NodeClass, fc.NodeClass)
	set(&c.EncryptKey, fc.Encrypt)
	set(&c.LogLevel, fc.LogLevel)
	set(&c.LogFormat, fc.LogFormat)
	set(&c.CNIPath, fc.CNIPath)
	set(&c.BridgeNetworkName, fc.BridgeName)
	set(&c.BridgeNetworkSubnet, fc.BridgeNet)
	if fc.Ports != nil {
		for _, p := range []struct {
			dst *int
			v   *int
		}{{&c.HTTPPort, fc.Ports.HTTP}, {&c.RPCPort, fc.Ports.RPC}, {&c.GossipPort, fc.Ports.Gossip}, {&c.GossipPort, fc.Ports.Serf}} {
			if p.v != nil {
				*p.dst = *p.v
			}
		}
	}
	c.Join = append(slices.Clone(c.Join), fc.Join...)
	c.RetryJoin = append(slices.Clone(c.RetryJoin), fc.RetryJoin...)
	if fc.ServerJoin != nil {
		c.RetryJoin = append(c.RetryJoin, fc.ServerJoin.RetryJoin...)
		if fc.ServerJoin.RetryInterval != nil {
			d, err := time.ParseDuration(*fc.ServerJoin.RetryInterval)
			if err != nil {
				return base, fmt.Errorf("%s: server_join.retry_interval: %q is not a duration (e.g. \"5s\")", filename, *fc.ServerJoin.RetryInterval)
			}
			c.RetryInterval = d
		}
	}
	if fc.Meta != nil {
		attrs, diags := fc.Meta.Body.JustAttributes()
		if diags.HasErrors() {
			return base, diagError(diags)
		}
		c.Meta = cloneMap(c.Meta)
		for name, a := range attrs {
			var v string
			if diags := gohcl.DecodeExpression(a.Expr, nil, &v); diags.HasErrors() {
				return base, fmt.Errorf("%s: meta.%s: value must be a string", a.Range, name)
			}
			c.Meta[name] = v
		}
	}
	if fc.Reserved != nil {
		if fc.Reserved.CPU != nil {
			c.ReservedCPU = *fc.Reserved.CPU
		}
		if fc.Reserved.Memory != nil {
			c.ReservedMemoryMB = *fc.Reserved.Memory
		}
	}
	if fc.Drivers != nil {
		c.Drivers = fc.Drivers
	}
	if fc.AllowCaps != nil {
		c.AllowCaps = fc.AllowCaps
	}
	if fc.Debug != nil {
		c.EnableDebug = *fc.Debug
	}
	if body, ok := f.Body.(*hclsyntax.Body); ok {
		vols, err := parseHostVolumes(body, c.HostVolumes)
		if err != nil {
			return base, err
		}
		c.HostVolumes = vols
		if err := parseGCConfig(body, &c); err != nil {
			return base, err
		}
	}
	if err := c.validate(false); err != nil {
		return base, fmt.Errorf("%s: %w", filename, err)
	}
	return c, nil
}

func cloneMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// namedFields prefixes each diagnostic about a value with the field that holds it
// and the value as written (`reserved.cpu = "lots": ...`): gohcl's type errors give
// the position and the type wanted, not the name.
func namedFields(body hcl.Body, src []byte, diags hcl.Diagnostics) hcl.Diagnostics {
	b, ok := body.(*hclsyntax.Body)
	if !ok {
		return diags
	}
	var find func(b *hclsyntax.Body, prefix string, r *hcl.Range) string
	find = func(b *hclsyntax.Body, prefix string, r *hcl.Range) string {
		for name, a := range b.Attributes {
			if a.SrcRange.Overlaps(*r) {
				return prefix + name + " = " + string(a.Expr.Range().SliceBytes(src))
			}
		}
		for _, blk := range b.Blocks {
			if blk.Body.SrcRange.Overlaps(*r) {
				return find(blk.Body, prefix+blk.Type+".", r)
			}
		}
		return ""
	}
	out := make(hcl.Diagnostics, len(diags))
	for i, d := range diags {
		c := *d
		if c.Subject != nil {
			if field := find(b, "", c.Subject); field != "" {
				c.Summary = field + ": " + c.Summary
			}
		}
		out[i] = &c
	}
	return out
}

func diagError(diags hcl.Diagnostics) error {
	var msgs []string
	for _, d := range diags {
		if d.Severity != hcl.DiagError {
			continue
		}
		loc := ""
		if d.Subject != nil {
			loc = d.Subject.String() + ": "
		}
		msgs = append(msgs, loc+d.Summary+": "+d.Detail)
	}
	return errors.New(strings.Join(msgs, "\n"))
}

// Validate checks every field and names the first one at fault with its value and
// what is accepted. It never panics.
func (c Config) Validate() error { return c.validate(true) }

// validate checks the values set; complete also wants what a peer cannot run
// without (a data dir), which a config file may leave to the command line.
func (c Config) validate(complete bool) error {
	var errs []error
	bad := func(field string, value any, accepted string) {
		errs = append(errs, fmt.Errorf("%s: %v is not valid: %s", field, value, accepted))
	}
	if c.Name == "" {
		bad("name", `""`, "a unique peer name is required")
	}
	if c.DataDir == "" && !c.Dev && complete {
		bad("data_dir", `""`, "a directory is required outside -dev")
	}
	if net.ParseIP(c.BindAddr) == nil {
		bad("bind_addr", fmt.Sprintf("%q", c.BindAddr), "an IP address such as 0.0.0.0 or 10.0.0.5")
	}
	if c.AdvertiseAddr != "" && net.ParseIP(c.AdvertiseAddr) == nil {
		bad("advertise", fmt.Sprintf("%q", c.AdvertiseAddr), "an IP address other peers can reach")
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"ports.http", c.HTTPPort}, {"ports.rpc", c.RPCPort}, {"ports.gossip", c.GossipPort}} {
		if p.v < 0 || p.v > 65535 {
			bad(p.name, p.v, "a port in 1-65535 (0: any free port, for tests)")
		}
	}
	if c.HTTPPort != 0 && (c.HTTPPort == c.RPCPort || c.HTTPPort == c.GossipPort) || c.RPCPort != 0 && c.RPCPort == c.GossipPort {
		bad("ports", fmt.Sprintf("http=%d rpc=%d gossip=%d", c.HTTPPort, c.RPCPort, c.GossipPort), "three distinct ports")
	}
	if c.Datacenter == "" {
		bad("datacenter", `""`, "a datacenter name such as dc1")
	}
	if c.ReservedCPU < 0 {
		bad("reserved.cpu", c.ReservedCPU, "MHz >= 0")
	}
	if c.ReservedMemoryMB < 0 {
		bad("reserved.memory", c.ReservedMemoryMB, "MiB >= 0")
	}
	if c.EncryptKey != "" {
		k, err := base64.StdEncoding.DecodeString(c.EncryptKey)
		if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
			bad("encrypt", "(key hidden)", "a base64 key of 16, 24 or 32 bytes (`openssl rand -base64 32`)")
		}
	}
	for _, d := range c.Drivers {
		if d != "exec" && d != "container" {
			bad("drivers", fmt.Sprintf("%q", d), `"exec" or "container"`)
		}
	}
	for _, name := range c.AllowCaps {
		if !exec.IsCapability(name) {
			bad("allow_caps", fmt.Sprintf("%q", name), `Linux capabilities such as "net_raw" or "CAP_NET_RAW"`)
		}
	}
	if _, err := ParseLogLevel(c.LogLevel); err != nil {
		bad("log_level", fmt.Sprintf("%q", c.LogLevel), "debug, info, warn or error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("log_format", fmt.Sprintf("%q", c.LogFormat), "text or json")
	}
	for _, d := range []struct {
		field    string
		value    time.Duration
		accepted string
	}{
		{"server_join.retry_interval", c.RetryInterval, "a positive duration"},
		{"reconcile_interval", c.ReconcileInterval, "a positive duration"},
		{"bid_timeout", c.BidTimeout, "a positive duration"},
		{"alloc_gc_threshold", c.AllocGCThreshold, "a positive duration such as 1h"},
		{"job_gc_threshold", c.JobGCThreshold, "a positive duration such as 4h"},
		{"gc_interval", c.GCInterval, "a positive duration such as 1m"},
	} {
		if d.value <= 0 {
			bad(d.field, d.value, d.accepted)
		}
	}
	if c.GCMaxAllocs < 1 {
		bad("gc_max_allocs", c.GCMaxAllocs, "a whole number of allocations >= 1")
	}
	if err := c.bridgeConfig().Validate(); err != nil {
		errs = append(errs, err)
	}
	for _, name := range slices.Sorted(maps.Keys(c.HostVolumes)) {
		if err := checkHostVolume(name, c.HostVolumes[name].Path); err != nil {
			errs = append(errs, fmt.Errorf("host_volume %q: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// ParseLogLevel maps a config log level to slog's.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug", "trace":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error", "err":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("log level %q: accepted: debug, info, warn, error", s)
}

// HasDriver reports whether the driver (exec, container; docker means container) is enabled.
func (c Config) HasDriver(d string) bool {
	if d == "docker" {
		d = "container"
	}
	return slices.Contains(c.Drivers, d)
}
