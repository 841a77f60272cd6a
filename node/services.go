package node

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/shoal-sched/shoal/jobspec"
	"github.com/shoal-sched/shoal/node/api"
	"github.com/shoal-sched/shoal/placement"
)

// Service discovery, as Nomad's native provider: every `service` block of a running
// allocation is an instance of that service at the allocation's host address and
// the port its label maps to, healthy when its checks pass. Nothing is registered
// anywhere: instances are read off the replicated allocation tables, so any peer
// answers, and an allocation that stops or is lost leaves at once.

// serviceInstances lists the instances of every service in the cluster, or of one
// when name is set, sorted by service, job and allocation.
func (n *Node) serviceInstances(name string) []api.ServiceRegistration {
	var out []api.ServiceRegistration
	jobs := map[string]*jobspec.Job{} // each job decoded once, not once per allocation
	for _, a := range n.clusterAllocs() {
		if a.ClientStatus != placement.ClientRunning || a.DesiredStatus != placement.DesiredRun {
			continue
		}
		job, seen := jobs[a.JobID]
		if !seen {
			if je, ok := n.jobEntry(a.JobID); ok {
				job = je.Job
			}
			jobs[a.JobID] = job
		}
		if job == nil {
			continue
		}
		g := job.LookupGroup(a.Group)
		if g == nil {
			continue
		}
		for _, s := range g.Services {
			port, ok := a.PortMap[s.Port]
			if (name != "" && s.Name != name) || !ok {
				continue
			}
			out = append(out, api.ServiceRegistration{
				ID:          fmt.Sprintf("_shoal-%s-%s-%s", a.ID, s.Name, s.Port),
				ServiceName: s.Name, JobID: a.JobID, AllocID: a.ID, NodeID: a.NodeID, NodeName: a.NodeName,
				Tags: slices.Clone(s.Tags), Address: a.HostIP, Port: port, Health: serviceHealth(a, s.Name),
			})
		}
	}
	slices.SortFunc(out, func(x, y api.ServiceRegistration) int {
		return cmp.Or(strings.Compare(x.ServiceName, y.ServiceName), strings.Compare(x.JobID, y.JobID), strings.Compare(x.AllocID, y.AllocID))
	})
	return out
}

// serviceHealth is "passing" when every check of the service passes, "critical"
// when one fails, and "" when it has none (or none has run yet).
func serviceHealth(a allocRecord, service string) string {
	health := ""
	for _, c := range a.Checks {
		if c.Service != service {
			continue
		}
		if c.Status != "passing" {
			return "critical"
		}
		health = "passing"
	}
	return health
}

// Services implements GET /v1/services: each service name with its tags and how
// many instances run.
func (n *Node) Services() []api.ServiceStub {
	var out []api.ServiceStub
	for _, r := range n.serviceInstances("") {
		if len(out) == 0 || out[len(out)-1].ServiceName != r.ServiceName {
			out = append(out, api.ServiceStub{ServiceName: r.ServiceName})
		}
		s := &out[len(out)-1]
		s.Instances++
		if r.Health == "passing" {
			s.Passing++
		}
		for _, t := range r.Tags {
			if !slices.Contains(s.Tags, t) {
				s.Tags = append(s.Tags, t)
			}
		}
	}
	for i := range out {
		slices.Sort(out[i].Tags)
	}
	return out
}

// Service implements GET /v1/service/<name>: its instances; with healthyOnly, only
// those whose checks pass (or that have none).
func (n *Node) Service(name string, healthyOnly bool) ([]api.ServiceRegistration, error) {
	all := n.serviceInstances(name)
	if len(all) == 0 {
		return nil, fmt.Errorf("%w: no running allocation offers service %q", ErrNotFound, name)
	}
	if !healthyOnly {
		return all, nil
	}
	out := []api.ServiceRegistration{}
	for _, r := range all {
		if r.Health != "critical" {
			out = append(out, r)
		}
	}
	return out, nil
}
