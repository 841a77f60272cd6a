package jobspec

import (
	"fmt"
	"time"
)

// Defaults, as Nomad's.
const (
	defaultPriority    = 50
	defaultCPU         = 100 // MHz
	defaultMemoryMB    = 300 // MiB
	defaultKillTimeout = 5 * time.Second
	defaultNetworkMode = "host"

	// DefaultTemplateSplay is a template's splay when the job does not set one.
	DefaultTemplateSplay = 5 * time.Second
	// DefaultChangeScriptTimeout bounds a template's change_script when the job does
	// not.
	DefaultChangeScriptTimeout = 5 * time.Second
)

// defaultDatacenters is what a job without datacenters runs in: every datacenter,
// as in Nomad since 1.5.
var defaultDatacenters = []string{"*"}

// drivers are the task drivers Shoal runs.
var drivers = []string{DriverContainer, DriverExec, DriverDocker}

// DefaultRestartPolicy returns Nomad's restart defaults for a job type: service and
// system jobs restart twice in 30m, batch jobs three times in 24h; both wait 15s and
// then fail the allocation (so that it is rescheduled).
func DefaultRestartPolicy(jobType string) *RestartPolicy {
	if jobType == TypeBatch {
		return &RestartPolicy{Attempts: 3, Interval: 24 * time.Hour, Delay: 15 * time.Second, Mode: "fail"}
	}
	return &RestartPolicy{Attempts: 2, Interval: 30 * time.Minute, Delay: 15 * time.Second, Mode: "fail"}
}

// DefaultReschedulePolicy returns Nomad's reschedule defaults for a job type:
// service jobs reschedule without limit with exponential backoff from 30s up to 1h;
// batch jobs once in 24h after 5s; system jobs never (nil): they run on every peer.
func DefaultReschedulePolicy(jobType string) *ReschedulePolicy {
	switch jobType {
	case TypeSystem:
		return nil
	case TypeBatch:
		return &ReschedulePolicy{Attempts: 1, Interval: 24 * time.Hour, Delay: 5 * time.Second, DelayFunction: "constant"}
	}
	return &ReschedulePolicy{Delay: 30 * time.Second, DelayFunction: "exponential", MaxDelay: time.Hour, Unlimited: true}
}

// DefaultUpdate returns Nomad's update defaults: one allocation at a time, healthy
// once its checks pass for 10s, within 5m, and the deployment progressing within 10m.
func DefaultUpdate() *Update {
	return &Update{MaxParallel: 1, HealthCheck: "checks", MinHealthyTime: 10 * time.Second,
		HealthyDeadline: 5 * time.Minute, ProgressDeadline: 10 * time.Minute, Stagger: 30 * time.Second}
}

// canonicalize merges the policy blocks as written over the defaults of the job's
// type, then calls Canonicalize.
func (p *parser) canonicalize(j *Job) {
	jp := p.patch(j)
	if j.Type == TypeBatch {
		if len(jp.update) > 0 {
			p.warnField("update", "ignored: batch jobs run to completion and are not updated in place")
		}
	} else {
		j.Update = DefaultUpdate()
		jp.update.apply(j.Update)
	}
	if j.Type == TypeSystem && len(jp.reschedule) > 0 {
		p.warnField("reschedule", "ignored: system jobs run on every peer and are not rescheduled")
	}
	for _, g := range j.Groups {
		gp := p.patch(g)
		gpath := groupPath(g.Name)
		g.Restart = DefaultRestartPolicy(j.Type)
		gp.restart.apply(g.Restart)
		switch {
		case j.Type == TypeSystem:
			if len(gp.reschedule) > 0 {
				p.warnField(field(gpath, "reschedule"), "ignored: system jobs run on every peer and are not rescheduled")
			}
		case DefaultReschedulePolicy(j.Type) != nil:
			g.Reschedule = DefaultReschedulePolicy(j.Type)
			jp.reschedule.apply(g.Reschedule)
			gp.reschedule.apply(g.Reschedule)
		}
		if j.Update != nil {
			u := *j.Update
			gp.update.apply(&u)
			g.Update = &u
			if u.Canary > 0 && j.Type == TypeSystem {
				p.warnField(field(gpath, "update.canary"), "ignored: system jobs replace their allocations peer by peer (max_parallel), without canaries")
			}
		} else if len(gp.update) > 0 {
			p.warnField(field(gpath, "update"), "ignored: batch jobs run to completion and are not updated in place")
		}
		if g.Network != nil && (g.Network.Mode == "" || g.Network.Mode == "host") {
			for _, pt := range g.Network.Ports {
				if pt.To > 0 && pt.To != pt.Static {
					p.warnField(field(gpath, "network.port "+quote(pt.Label)+".to"), fmt.Sprintf("ignored in network mode \"host\": the group's tasks share the host's network and listen on the host port itself (NOMAD_PORT_%s); set mode = \"bridge\" to map the host port to %d", pt.Label, pt.To))
				}
			}
		}
		for _, t := range g.Tasks {
			r := *g.Restart
			p.patch(t).restart.apply(&r)
			t.Restart = &r
		}
	}
	j.Canonicalize()
}

func (p *parser) patch(key any) *policyPatch {
	if pp := p.patches[key]; pp != nil {
		return pp
	}
	return &policyPatch{}
}

func (p *parser) warnField(f, msg string) {
	p.diags = append(p.diags, p.locate(Diagnostic{Severity: SeverityWarning, Field: f, Message: msg}))
}

// Canonicalize fills in the defaults that a job arriving as JSON may leave at zero
// (type, name, priority, datacenters, policies, resources, network mode, service
// names), normalises the docker driver to container, and empty lists and maps to
// nil, so that equal jobs encode and hash equally. It is idempotent. Parse calls it.
func (j *Job) Canonicalize() {
	if j.Type == "" {
		j.Type = TypeService
	}
	if j.Name == "" {
		j.Name = j.ID
	}
	if j.Priority == 0 {
		j.Priority = defaultPriority
	}
	if len(j.Datacenters) == 0 {
		j.Datacenters = append([]string(nil), defaultDatacenters...)
	}
	if j.Type == TypeBatch {
		j.Update = nil
	} else if j.Update == nil {
		j.Update = DefaultUpdate()
	}
	j.Meta = nilIfEmpty(j.Meta)
	j.Constraints = nilIfNone(j.Constraints)
	j.Affinities = nilIfNone(j.Affinities)
	j.Spreads = nilIfNone(j.Spreads)
	if j.Periodic != nil {
		j.Periodic.canonicalize()
	}
	for _, g := range j.Groups {
		if g != nil {
			j.canonicalizeGroup(g)
		}
	}
}

func (j *Job) canonicalizeGroup(g *Group) {
	if g.Restart == nil {
		g.Restart = DefaultRestartPolicy(j.Type)
	}
	if j.Type == TypeSystem {
		g.Reschedule = nil
	} else if g.Reschedule == nil {
		g.Reschedule = DefaultReschedulePolicy(j.Type)
	}
	if j.Update == nil {
		g.Update = nil
	} else if g.Update == nil {
		u := *j.Update
		g.Update = &u
	}
	if g.Network != nil {
		if g.Network.Mode == "" {
			g.Network.Mode = defaultNetworkMode
		}
		g.Network.Ports = nilIfNone(g.Network.Ports)
	}
	for i := range g.Services {
		s := &g.Services[i]
		if s.Name == "" {
			s.Name = j.ID + "-" + g.Name
		}
		s.Tags = nilIfNone(s.Tags)
		for k := range s.Checks {
			if s.Checks[k].Name == "" {
				s.Checks[k].Name = "service: \"" + s.Name + "\" check"
			}
		}
		s.Checks = nilIfNone(s.Checks)
	}
	g.Meta = nilIfEmpty(g.Meta)
	g.Constraints = nilIfNone(g.Constraints)
	g.Affinities = nilIfNone(g.Affinities)
	g.Spreads = nilIfNone(g.Spreads)
	for i := range g.Spreads {
		g.Spreads[i].Targets = nilIfNone(g.Spreads[i].Targets)
	}
	g.Services = nilIfNone(g.Services)
	g.Volumes = canonicalVolumes(g.Volumes)
	for _, t := range g.Tasks {
		if t == nil {
			continue
		}
		if t.Driver == DriverDocker {
			t.Driver = DriverContainer
		}
		if t.Resources.CPU == 0 {
			t.Resources.CPU = defaultCPU
		}
		if t.Resources.MemoryMB == 0 {
			t.Resources.MemoryMB = defaultMemoryMB
		}
		if t.Restart == nil {
			r := *g.Restart
			t.Restart = &r
		}
		t.Env = nilIfEmpty(t.Env)
		t.Meta = nilIfEmpty(t.Meta)
		c := &t.Config
		c.Args, c.Entrypoint, c.Ports = nilIfNone(c.Args), nilIfNone(c.Entrypoint), nilIfNone(c.Ports)
		t.VolumeMounts = nilIfNone(t.VolumeMounts)
		t.Artifacts = nilIfNone(t.Artifacts)
		for i := range t.Artifacts {
			a := &t.Artifacts[i]
			if a.Mode == "" {
				a.Mode = ArtifactModeAny
			}
			if a.Destination == "" {
				a.Destination = defaultArtifactDest
			}
			a.Options, a.Headers = nilIfEmpty(a.Options), nilIfEmpty(a.Headers)
		}
		for i := range t.VolumeMounts {
			if t.VolumeMounts[i].PropagationMode == "" {
				t.VolumeMounts[i].PropagationMode = PropagationPrivate
			}
		}
	}
}

// canonicalVolumes names each volume request by its label, as Nomad's JSON API may
// leave Name out; nil when there are none.
func canonicalVolumes(vols map[string]VolumeRequest) map[string]VolumeRequest {
	if len(vols) == 0 {
		return nil
	}
	for label, v := range vols {
		if v.Name == "" {
			v.Name = label
			vols[label] = v
		}
	}
	return vols
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

func nilIfNone[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func groupPath(name string) string { return "group " + quote(name) }

func taskPath(group, task string) string { return groupPath(group) + " task " + quote(task) }
