package exec

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"relative data dir", func(c *Config) { c.DataDir = "data" }, `data_dir "data": must be an absolute path`},
		{"comma in data dir", func(c *Config) { c.DataDir = "/a,b" }, `data_dir "/a,b": must not contain`},
		{"absolute cgroup parent", func(c *Config) { c.CgroupParent = "/shoal" }, `cgroup_parent "/shoal"`},
		{"escaping cgroup parent", func(c *Config) { c.CgroupParent = "../x" }, `cgroup_parent "../x"`},
		{"tiny log files", func(c *Config) { c.LogMaxBytes = 10 }, "log_max_bytes 10"},
		{"no log files", func(c *Config) { c.LogMaxFiles = 0 }, "log_max_files 0"},
		{"no pids", func(c *Config) { c.DefaultPidsLimit = 0 }, "default_pids_limit 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.DataDir = "/var/lib/shoal"
			tt.mod(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestParseSignalAndShares(t *testing.T) {
	for in, want := range map[string]int{"": 15, "SIGINT": 2, "term": 15, "HUP": 1, "9": 9} {
		if got, err := ParseSignal(in); err != nil || int(got) != want {
			t.Errorf("ParseSignal(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"SIGNOPE", "0", "65", "-1"} {
		if _, err := ParseSignal(bad); err == nil {
			t.Errorf("ParseSignal(%q): want an error", bad)
		}
	}
	for mhz, want := range map[int]uint64{0: 0, 1: 2, 500: 512, 1000: 1024, 2500: 2560} {
		if got := cpuShares(mhz); got != want {
			t.Errorf("cpuShares(%d) = %d, want %d", mhz, got, want)
		}
	}
	if s := (TaskSpec{ID: "x", Kind: KindContainer, Image: "i", KillTimeout: -time.Second}); s.validate() == nil {
		t.Error("negative kill_timeout accepted")
	}
}
