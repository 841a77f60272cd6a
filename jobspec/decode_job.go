package jobspec

import (
	"fmt"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Nomad settings Shoal accepts and ignores, with the reason printed in the warning.
const (
	whyCluster  = "Shoal has one cluster-wide namespace and region"
	whyConsul   = "Shoal has no Consul or Vault integration; services are checked by the peer itself"
	whyNotYet   = "Shoal does not support this Nomad feature yet; the job runs without it"
	whyIdentity = "Shoal issues no workload identities"
)

var jobSpec = spec{
	attrs:  []string{"name", "type", "datacenters", "priority", "meta"},
	blocks: []string{"group", "constraint", "affinity", "spread", "update", "reschedule", "meta", "periodic"},
	ignored: map[string]string{
		"region": whyCluster, "namespace": whyCluster, "node_pool": whyCluster,
		"all_at_once": "Shoal places allocations as peers bid for them",
		"vault":       whyConsul, "consul": whyConsul, "vault_token": whyConsul, "consul_token": whyConsul,
		"migrate": whyNotYet, "ui": "the Nomad web UI settings do not apply", "multiregion": whyCluster,
	},
	unsupported: map[string]string{
		"parameterized": "parameterized (dispatch) jobs are not supported yet",
	},
}

var groupSpec = spec{
	attrs: []string{"count", "meta"},
	blocks: []string{"task", "constraint", "affinity", "spread", "restart", "reschedule", "update",
		"network", "service", "ephemeral_disk", "meta", "volume"},
	ignored: map[string]string{
		"scaling": "autoscaling policies are not supported; set count",
		"migrate": whyNotYet, "consul": whyConsul, "vault": whyConsul, "disconnect": whyNotYet,
		"shutdown_delay": whyNotYet, "stop_after_client_disconnect": whyNotYet,
		"max_client_disconnect": whyNotYet, "prevent_reschedule_on_lost": whyNotYet,
	},
}

// decodeJob decodes the job block.
func (p *parser) decodeJob(blk *hclsyntax.Block) *Job {
	p.jobRange = blk.DefRange()
	p.record("", blk.DefRange())
	if !p.labels(blk, "job", 1, `job "name" { ... }`) {
		return nil
	}
	b := blk.Body
	j := &Job{ID: blk.Labels[0], Name: blk.Labels[0], Type: TypeService, Priority: 50}
	p.record("id", blk.LabelRanges[0])
	p.checkBody(b, "", "", jobSpec)
	p.str(b, "", "", "name", &j.Name)
	p.str(b, "", "", "type", &j.Type)
	p.strList(b, "", "", "datacenters", &j.Datacenters)
	p.integer(b, "", "", "priority", &j.Priority)
	j.Meta = p.stringMap(b, "", "", "meta")
	j.Constraints = p.constraints(b, "", 0)
	j.Affinities = p.affinities(b, "", 0)
	j.Spreads = p.spreads(b, "")
	pp := &policyPatch{}
	if u := p.single(b, "", "", "update"); u != nil {
		pp.update = p.update(u, "")
	}
	if r := p.single(b, "", "", "reschedule"); r != nil {
		pp.reschedule = p.reschedule(r, "")
	}
	p.patches[j] = pp
	if pb := p.single(b, "", "", "periodic"); pb != nil {
		j.Periodic = p.periodic(pb)
	}

	groups := blocks(b, "group")
	if len(groups) == 0 {
		p.errAt(blk.DefRange(), "", j.ID, `job %q has no group; add group "name" { task "name" { ... } }`, j.ID)
	}
	for _, g := range groups {
		if grp := p.decodeGroup(g); grp != nil {
			j.Groups = append(j.Groups, grp)
		}
	}
	return j
}

// decodeGroup decodes one group block.
func (p *parser) decodeGroup(blk *hclsyntax.Block) *Group {
	if !p.labels(blk, "group", 1, `group "name" { ... }`) {
		return nil
	}
	g := &Group{Name: blk.Labels[0], Count: 1}
	path := groupPath(g.Name)
	p.record(path, blk.DefRange())
	b := blk.Body
	p.checkBody(b, path, "", groupSpec)
	p.integer(b, path, "", "count", &g.Count)
	g.Meta = p.stringMap(b, path, "", "meta")
	g.Constraints = p.constraints(b, path, 0)
	g.Affinities = p.affinities(b, path, 0)
	g.Spreads = p.spreads(b, path)
	pp := &policyPatch{}
	if r := p.single(b, path, "", "restart"); r != nil {
		pp.restart = p.restart(r, path)
	}
	if r := p.single(b, path, "", "reschedule"); r != nil {
		pp.reschedule = p.reschedule(r, path)
	}
	if u := p.single(b, path, "", "update"); u != nil {
		pp.update = p.update(u, path)
	}
	p.patches[g] = pp
	if n := p.single(b, path, "", "network"); n != nil {
		g.Network = p.network(n, path)
	}
	for i, s := range blocks(b, "service") {
		g.Services = append(g.Services, p.service(s, path, fmt.Sprintf("service[%d]", i)))
	}
	if d := p.single(b, path, "", "ephemeral_disk"); d != nil {
		g.EphemeralDisk = p.disk(d, path)
	}
	g.Volumes = p.volumes(b, path)
	tasks := blocks(b, "task")
	if len(tasks) == 0 {
		p.errAt(blk.DefRange(), path, g.Name, `group %q has no task; add task "name" { driver = "container" ... }`, g.Name)
	}
	for _, t := range tasks {
		if task := p.decodeTask(t, g, path); task != nil {
			g.Tasks = append(g.Tasks, task)
		}
	}
	return g
}

// disk decodes ephemeral_disk, which Shoal accepts for compatibility.
func (p *parser) disk(blk *hclsyntax.Block, path string) *EphemeralDisk {
	d := &EphemeralDisk{SizeMB: 300}
	const sub = "ephemeral_disk."
	p.record(field(path, "ephemeral_disk"), blk.DefRange())
	p.checkBody(blk.Body, path, sub, spec{attrs: []string{"size", "sticky", "migrate"}})
	p.integer(blk.Body, path, sub, "size", &d.SizeMB)
	p.boolean(blk.Body, path, sub, "sticky", &d.Sticky)
	p.boolean(blk.Body, path, sub, "migrate", &d.Migrate)
	return d
}
