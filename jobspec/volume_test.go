package jobspec

import (
	"encoding/json"
	"strings"
	"testing"
)

// A job that arrives as JSON (Nomad's API shape) may leave a volume's Name and a
// mount's PropagationMode out: Canonicalize fills them, and Validate checks the
// rest as it does for a job file.
func TestVolumesFromJSON(t *testing.T) {
	const body = `{"ID": "db", "TaskGroups": [{"Name": "g", "Count": 1,
	  "Volumes": {"data": {"Type": "host", "Source": "pgdata", "ReadOnly": true}},
	  "Tasks": [{"Name": "t", "Driver": "exec", "Config": {"command": "/bin/true"},
	    "VolumeMounts": [{"Volume": "data", "Destination": "/srv"}]}]}]}`
	var j Job
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		t.Fatal(err)
	}
	j.Canonicalize()
	if err := j.Validate(); err != nil {
		t.Fatalf("valid job: %v", err)
	}
	g := j.Groups[0]
	if got := g.Volumes["data"].Name; got != "data" {
		t.Errorf("volume name = %q, want the label %q", got, "data")
	}
	m := g.Tasks[0].VolumeMounts[0]
	if m.PropagationMode != PropagationPrivate {
		t.Errorf("propagation_mode = %q, want %q", m.PropagationMode, PropagationPrivate)
	}
	if !m.ReadOnlyIn(g) {
		t.Error("a mount of a read-only volume request must be read-only")
	}

	g.Volumes["data"] = VolumeRequest{Name: "data", Type: "csi", Source: "pgdata"}
	g.Tasks[0].VolumeMounts[0].Volume = "date"
	want := []string{
		`group "g": volume "data".type: CSI volumes are not supported; accepted: "host" (a directory a peer's config declares with host_volume)`,
		`group "g" task "t": volume_mount[0].volume: group "g" has no volume "date"; accepted: "data" (did you mean "data"?)`,
	}
	err := j.Validate()
	if err == nil {
		t.Fatal("want errors, got none")
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}
