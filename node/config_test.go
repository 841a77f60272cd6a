package node

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadConfigFile(t *testing.T) {
	c, err := LoadConfigFile("testdata/config/good.hcl", DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		field     string
		got, want any
	}{
		{"name", c.Name, "web-1"},
		{"data_dir", c.DataDir, "/var/lib/shoal"},
		{"bind_addr", c.BindAddr, "10.0.0.5"},
		{"advertise", c.AdvertiseAddr, "10.0.0.5"},
		{"datacenter", c.Datacenter, "eu-west"},
		{"node_class", c.NodeClass, "web"},
		{"ports.http", c.HTTPPort, 5646},
		{"ports.rpc", c.RPCPort, 5647},
		{"ports.gossip", c.GossipPort, 5648},
		{"join", strings.Join(c.Join, ","), "10.0.0.2"},
		{"retry_join", strings.Join(c.RetryJoin, ","), "10.0.0.3,10.0.0.4:5648"},
		{"retry_interval", c.RetryInterval, 15 * time.Second},
		{"meta.rack", c.Meta["rack"], "r1"},
		{"meta.tier", c.Meta["tier"], "gold"},
		{"reserved.cpu", c.ReservedCPU, 500},
		{"reserved.memory", c.ReservedMemoryMB, 512},
		{"drivers", strings.Join(c.Drivers, ","), "exec"},
		{"allow_caps", strings.Join(c.AllowCaps, ","), "chown,net_raw"},
		{"log_level", c.LogLevel, "warn"},
		{"log_format", c.LogFormat, "json"},
		{"enable_debug", c.EnableDebug, true},
		{"encrypt", c.EncryptKey, "cg8StVXbQJ0gPvMd9o7yrg=="},
		{"reconcile interval (default kept)", c.ReconcileInterval, 2 * time.Second},
		{"cni_path", c.CNIPath, "/opt/cni/bin"},
		{"bridge_network_name", c.BridgeNetworkName, "shoalbr"},
		{"bridge_network_subnet", c.BridgeNetworkSubnet, "10.99.0.0/16"},
		{"alloc_gc_threshold", c.AllocGCThreshold, 30 * time.Minute},
		{"job_gc_threshold", c.JobGCThreshold, 2 * time.Hour},
		{"gc_max_allocs", c.GCMaxAllocs, 20},
		{"gc_interval", c.GCInterval, 15 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.field, ch.got, ch.want)
		}
	}
}

// TestConfigFileLeavesDataDirToFlags: `peer run -config f -data-dir D` is how many
// hosts start, so a file without data_dir is not an error until nothing gave one.
func TestConfigFileLeavesDataDirToFlags(t *testing.T) {
	c, err := ParseConfig("peer.hcl", []byte("enable_debug = true\n"), DefaultConfig())
	if err != nil {
		t.Fatalf("a file without data_dir: %v", err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Errorf("Validate with no data dir anywhere: %v, want an error naming data_dir", err)
	}
	c.DataDir = "/var/lib/shoal" // the flag
	if err := c.Validate(); err != nil {
		t.Errorf("with -data-dir: %v", err)
	}
}

func TestLoadConfigFileErrors(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // every one must appear in the error
	}{
		{"bad-port.hcl", []string{"bad-port.hcl", "ports.http", "70000", "1-65535"}},
		{"bad-bind.hcl", []string{"bind_addr", `"not-an-ip"`, "IP address"}},
		{"unknown-field.hcl", []string{"unknown-field.hcl:3", `"datacentre"`, "datacenter"}},
		{"bad-driver.hcl", []string{"drivers", `"docker-ce"`, `"exec" or "container"`}},
		{"bad-allow-caps.hcl", []string{"allow_caps", `"net_rwa"`, `Linux capabilities such as "net_raw"`}},
		{"bad-log-level.hcl", []string{"log_level", `"loud"`, "debug, info, warn or error"}},
		{"bad-encrypt.hcl", []string{"encrypt", "16, 24 or 32 bytes"}},
		{"bad-interval.hcl", []string{"server_join.retry_interval", `"soon"`}},
		{"syntax.hcl", []string{"syntax.hcl:"}},
		{"bad-type.hcl", []string{"bad-type.hcl:4", `reserved.cpu = "lots"`, "number"}},
		{"bad-debug.hcl", []string{"bad-debug.hcl:2", `enable_debug = "yes please"`, "bool"}},
		{"bad-bridge-subnet.hcl", []string{"bad-bridge-subnet.hcl", "bridge_network_subnet", `"172.26.64.0"`, "IPv4 CIDR"}},
		{"bad-gc-interval.hcl", []string{"bad-gc-interval.hcl:4:", "gc_interval", `"soon"`, "positive duration"}},
		{"bad-gc-max-allocs.hcl", []string{"bad-gc-max-allocs.hcl:3:", "gc_max_allocs", "the number 0", ">= 1"}},
		{"bad-gc-threshold.hcl", []string{"bad-gc-threshold.hcl:3:", "alloc_gc_threshold", "the number 3600", `"1h"`}},
		{"bad-job-gc-threshold.hcl", []string{"bad-job-gc-threshold.hcl:3:", "job_gc_threshold", `"-1h"`, "positive duration"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadConfigFile(filepath.Join("testdata/config", tc.file), DefaultConfig())
			if err == nil {
				t.Fatalf("no error; want one mentioning %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	dev := DevConfig()
	if err := dev.Validate(); err != nil {
		t.Fatalf("DevConfig is invalid: %v", err)
	}
	def := DefaultConfig()
	if err := def.Validate(); err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Errorf("DefaultConfig without data_dir: err = %v, want one naming data_dir", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"same ports", func(c *Config) { c.RPCPort = c.HTTPPort }, "three distinct ports"},
		{"negative reserved", func(c *Config) { c.ReservedCPU = -1 }, "reserved.cpu"},
		{"no name", func(c *Config) { c.Name = "" }, "name"},
		{"no datacenter", func(c *Config) { c.Datacenter = "" }, "datacenter"},
		{"bad advertise", func(c *Config) { c.AdvertiseAddr = "host.example" }, "advertise"},
		{"log format", func(c *Config) { c.LogFormat = "xml" }, "log_format"},
		{"no gc threshold", func(c *Config) { c.AllocGCThreshold = 0 }, "alloc_gc_threshold"},
		{"no job gc threshold", func(c *Config) { c.JobGCThreshold = 0 }, "job_gc_threshold"},
		{"no gc interval", func(c *Config) { c.GCInterval = -time.Second }, "gc_interval"},
		{"no terminal allocations kept", func(c *Config) { c.GCMaxAllocs = 0 }, "gc_max_allocs: 0 is not valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DevConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %q", err, tc.want)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	c := DevConfig()
	c.Name, c.NodeClass, c.Meta = "fp", "gpu", map[string]string{"rack": "r9"}
	fp := TakeFingerprint(c)
	if fp.CPUTotalMHz <= 0 || fp.MemoryTotalMB <= 0 || fp.Cores <= 0 {
		t.Errorf("capacity cpu=%d MHz mem=%d MiB cores=%d: want all > 0", fp.CPUTotalMHz, fp.MemoryTotalMB, fp.Cores)
	}
	for k, want := range map[string]string{
		"attr.kernel.name": "linux", "node.datacenter": "dc1", "node.class": "gpu", "meta.rack": "r9", "node.unique.name": "fp",
	} {
		if got := fp.Attributes[k]; got != want {
			t.Errorf("attribute %s = %q, want %q", k, got, want)
		}
	}
	if v := fp.Attributes["attr.os.cgroups"]; !slices.Contains([]string{"1", "2"}, v) {
		t.Errorf("attr.os.cgroups = %q, want 1 or 2", v)
	}
	if fp.Attributes["attr.cpu.arch"] == "" {
		t.Error("attr.cpu.arch is empty")
	}
}
