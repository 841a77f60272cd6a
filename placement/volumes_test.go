package placement

import (
	"testing"

	"github.com/shoal-sched/shoal/jobspec"
)

// A group's host volumes restrict where it can go, as Nomad's: a peer must offer
// each source, writable unless the request is read-only. The stage runs on the
// advertised view (the coordinator's filter) as well as on a bidder's own state.
func TestVolumesStage(t *testing.T) {
	withVolumes := func(vols map[string]HostVolume) Node { n := testNode(); n.HostVolumes = vols; return n }
	group := func(reqs ...jobspec.VolumeRequest) *jobspec.Group {
		g := &jobspec.Group{Name: "db", Tasks: []*jobspec.Task{{Resources: jobspec.Resources{CPU: 100, MemoryMB: 64}}}}
		for _, r := range reqs {
			if g.Volumes == nil {
				g.Volumes = map[string]jobspec.VolumeRequest{}
			}
			g.Volumes[r.Name] = r
		}
		return g
	}
	rw := jobspec.VolumeRequest{Name: "data", Type: jobspec.VolumeTypeHost, Source: "pgdata"}
	ro := jobspec.VolumeRequest{Name: "data", Type: jobspec.VolumeTypeHost, Source: "pgdata", ReadOnly: true}
	certs := jobspec.VolumeRequest{Name: "certs", Type: jobspec.VolumeTypeHost, Source: "certs", ReadOnly: true}
	tests := []struct {
		name   string
		node   Node
		group  *jobspec.Group
		reason string // "" = feasible
		detail string
	}{
		{"no volumes asked", withVolumes(nil), group(), "", ""},
		{"has it", withVolumes(map[string]HostVolume{"pgdata": {Path: "/srv/pg"}}), group(rw), "", ""},
		{"lacks it", withVolumes(map[string]HostVolume{"other": {Path: "/srv"}}), group(rw),
			`lack host volume "pgdata"`, `volume "data" needs it`},
		{"read-only where writable is needed", withVolumes(map[string]HostVolume{"pgdata": {Path: "/srv/pg", ReadOnly: true}}), group(rw),
			`have host volume "pgdata" read-only`, `volume "data" needs it writable; set read_only = true to mount it read-only`},
		{"read-only request on a read-only volume", withVolumes(map[string]HostVolume{"pgdata": {ReadOnly: true}}), group(ro), "", ""},
		{"read-only request on a writable volume", withVolumes(map[string]HostVolume{"pgdata": {}}), group(ro), "", ""},
		{"second of two missing", withVolumes(map[string]HostVolume{"certs": {}}), group(certs, rw), `lack host volume "pgdata"`, `volume "data" needs it`},
	}
	job := &jobspec.Job{ID: "db", Datacenters: []string{"*"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStack(job, tt.group)
			for name, check := range map[string]func(*Node) (Rejection, bool){"CheckNode": s.CheckNode, "CheckFit": s.CheckFit,
				"CheckLocal": func(n *Node) (Rejection, bool) { return s.CheckLocal(n, nil, FreeResources(*n, nil), nil) }} {
				rej, ok := check(&tt.node)
				if tt.reason == "" {
					if !ok {
						t.Errorf("%s rejected: %v", name, rej)
					}
					continue
				}
				if ok || rej.Stage != StageVolumes || rej.Reason != tt.reason || rej.Detail != tt.detail {
					t.Errorf("%s: got ok=%v %+v, want stage %q reason %q detail %q", name, ok, rej, StageVolumes, tt.reason, tt.detail)
				}
			}
		})
	}
	rejs := []Rejection{{NodeID: "a", Reason: `lack host volume "pgdata"`}, {NodeID: "b", Reason: `lack host volume "pgdata"`},
		{NodeID: "c", Reason: `have host volume "pgdata" read-only`}}
	if got, want := Explain(rejs), `2 peers lack host volume "pgdata", 1 peer has host volume "pgdata" read-only`; got != want {
		t.Errorf("Explain = %q, want %q", got, want)
	}
}
