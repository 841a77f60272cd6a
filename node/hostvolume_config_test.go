package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/placement"
)

func TestHostVolumeConfig(t *testing.T) {
	dir := t.TempDir()
	data, certs, file := filepath.Join(dir, "data"), filepath.Join(dir, "certs"), filepath.Join(dir, "file")
	for _, d := range []string{data, certs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	good := fmt.Sprintf(`data_dir = "/var/lib/shoal"
host_volume "data" {
  path = "%s/"
}
host_volume "certs" {
  path      = %q
  read_only = true
}
`, data, certs)
	c, err := ParseConfig("peer.hcl", []byte(good), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]placement.HostVolume{"data": {Path: data}, "certs": {Path: certs, ReadOnly: true}}
	if fmt.Sprint(c.HostVolumes) != fmt.Sprint(want) {
		t.Errorf("host volumes = %v, want %v", c.HostVolumes, want)
	}

	for _, tc := range []struct {
		name, src string
		want      string
	}{
		{"relative path", `host_volume "data" {
  path = "srv/data"
}`, `peer.hcl:2:10: host_volume "data": path: "srv/data" is not valid: want an absolute path, e.g. "/srv/data"`},
		{"missing dir", fmt.Sprintf(`host_volume "data" {
  path = "%s/missing"
}`, dir), fmt.Sprintf(`peer.hcl:2:10: host_volume "data": path: "%s/missing" does not exist: create the directory first`, dir)},
		{"not a directory", fmt.Sprintf("host_volume \"data\" {\n  path = %q\n}", file), `host_volume "data": path: "` + file + `" is not a directory`},
		{"no path", `host_volume "data" {
  read_only = true
}`, `peer.hcl:1:1: host_volume "data": path: "" is not valid: the absolute path of a directory on this host is required`},
		{"duplicate", fmt.Sprintf("host_volume \"data\" {\n  path = %q\n}\nhost_volume \"data\" {\n  path = %q\n}", data, certs),
			`peer.hcl:4:1: host_volume "data" is declared twice; the first is at line 1`},
		{"unknown field", fmt.Sprintf("host_volume \"data\" {\n  path = %q\n  readonly = true\n}", data),
			`peer.hcl:3:3: host_volume "data": unknown field "readonly" (accepted: path, read_only)`},
		{"read_only not a bool", fmt.Sprintf("host_volume \"data\" {\n  path = %q\n  read_only = \"yes\"\n}", data),
			`peer.hcl:3:15: host_volume "data": read_only: got the string "yes", want true or false`},
		{"path not a string", "host_volume \"data\" {\n  path = 42\n}", `peer.hcl:2:10: host_volume "data": path: got the number 42, want a string such as "/srv/data"`},
		{"no label", `host_volume {
  path = "/srv"
}`, `peer.hcl:1:1: host_volume needs one label, its name, got 0`},
		{"bad name", fmt.Sprintf("host_volume \"my data\" {\n  path = %q\n}", data), `peer.hcl:1:13: host_volume "my data": the name must be 1 to 64 letters`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("peer.hcl", []byte(tc.src), DefaultConfig())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v\nwant one containing %s", err, tc.want)
			}
		})
	}
	// A config built in code (or from flags) is checked by Validate.
	cfg := DevConfig()
	cfg.HostVolumes = map[string]placement.HostVolume{"data": {Path: "rel"}}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `host_volume "data": path: "rel" is not valid`) {
		t.Errorf("Validate of a relative host volume path: %v", err)
	}
}

// taskMounts mounts a volume read-only when any of the three places says so, and
// refuses a source this peer does not have.
func TestTaskMounts(t *testing.T) {
	g := &jobspec.Group{Name: "g", Volumes: map[string]jobspec.VolumeRequest{
		"rw": {Name: "rw", Type: "host", Source: "data"}, "ro": {Name: "ro", Type: "host", Source: "data", ReadOnly: true},
		"hostro": {Name: "hostro", Type: "host", Source: "certs"}, "gone": {Name: "gone", Type: "host", Source: "nowhere"}}}
	vols := map[string]placement.HostVolume{"data": {Path: "/srv/data"}, "certs": {Path: "/etc/certs", ReadOnly: true}}
	task := &jobspec.Task{Name: "t", VolumeMounts: []jobspec.VolumeMount{
		{Volume: "rw", Destination: "/a", PropagationMode: "private"}, {Volume: "rw", Destination: "/b", ReadOnly: true},
		{Volume: "ro", Destination: "/c"}, {Volume: "hostro", Destination: "/d", PropagationMode: "host-to-task"}}}
	ms, err := taskMounts(g, task, vols)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(ms)
	want := "[{/srv/data /a false private} {/srv/data /b true } {/srv/data /c true } {/etc/certs /d true host-to-task}]"
	if got != want {
		t.Errorf("mounts = %s\nwant     %s", got, want)
	}
	task.VolumeMounts = append(task.VolumeMounts, jobspec.VolumeMount{Volume: "gone", Destination: "/e"})
	if _, err := taskMounts(g, task, vols); err == nil || !strings.Contains(err.Error(), `volume "gone" needs host volume "nowhere", which this peer does not have`) {
		t.Errorf("err = %v, want one naming the missing host volume", err)
	}
}
