package jobspec

import (
	"fmt"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

var taskSpec = spec{
	attrs: []string{"driver", "env", "user", "kill_timeout", "kill_signal", "meta", "leader"},
	blocks: []string{"config", "env", "resources", "restart", "meta", "service", "constraint",
		"affinity", "template", "lifecycle", "volume_mount", "artifact"},
	ignored: map[string]string{
		"vault": whyConsul, "consul": whyConsul, "identity": whyIdentity,
		"logs":       "Shoal rotates task logs with its own limits",
		"csi_plugin": whyNotYet, "dispatch_payload": whyNotYet, "scaling": whyNotYet,
		"shutdown_delay": whyNotYet, "kind": whyConsul, "max_kill_timeout": whyNotYet,
	},
}

// Driver configuration: what each driver accepts, and the Nomad docker options Shoal
// accepts and ignores so that a docker job file runs unchanged.
var (
	containerConfig = []string{"image", "command", "args", "entrypoint", "ports", "work_dir",
		"readonly_rootfs", "pids_limit", "hostname", "dns_servers", "dns_search_domains", "dns_options",
		"cap_add", "cap_drop", "extra_hosts"}
	execConfig    = []string{"command", "args"}
	dockerIgnored = map[string]string{}
	execIgnored   = map[string]string{}
)

func init() {
	for _, k := range []string{"auth", "auth_soft_fail", "volumes", "mount", "mounts", "network_mode",
		"privileged", "labels", "logging", "force_pull", "image_pull_timeout",
		"ulimit", "shm_size", "tty", "interactive", "devices", "security_opt", "ipc_mode",
		"pid_mode", "uts_mode", "sysctl", "load", "healthchecks", "port_map", "init",
		"storage_opt", "volume_driver", "cpu_hard_limit", "cpu_cfs_period",
		"mac_address", "memory_hard_limit", "isolation", "runtime", "userns_mode", "group_add",
		"oom_score_adj", "cpuset_cpus", "advertise_ipv6_address", "ipv4_address",
		"ipv6_address", "work_dir_is_sensitive"} {
		dockerIgnored[k] = "Nomad docker option not supported by Shoal's container driver"
	}
	for _, k := range []string{"pid_mode", "ipc_mode", "cap_add", "cap_drop", "work_dir"} {
		execIgnored[k] = "Nomad exec option not supported by Shoal's exec driver"
	}
}

// decodeTask decodes one task block of group g.
func (p *parser) decodeTask(blk *hclsyntax.Block, g *Group, gpath string) *Task {
	if !p.labels(blk, "task", 1, `task "name" { ... }`) {
		return nil
	}
	t := &Task{Name: blk.Labels[0], KillTimeout: defaultKillTimeout,
		Resources: Resources{CPU: defaultCPU, MemoryMB: defaultMemoryMB}}
	path := taskPath(g.Name, t.Name)
	p.record(path, blk.DefRange())
	b := blk.Body
	p.checkBody(b, path, "", taskSpec)
	p.str(b, path, "", "driver", &t.Driver)
	if _, ok := b.Attributes["driver"]; !ok {
		p.errAt(blk.DefRange(), field(path, "driver"), "", "missing driver; accepted: %s", acceptedList(drivers))
	}
	t.Env = p.stringMap(b, path, "", "env")
	p.str(b, path, "", "user", &t.User)
	p.duration(b, path, "", "kill_timeout", &t.KillTimeout)
	p.str(b, path, "", "kill_signal", &t.KillSignal)
	t.Meta = p.stringMap(b, path, "", "meta")
	p.boolean(b, path, "", "leader", &t.Leader)
	if c := p.single(b, path, "", "config"); c != nil {
		t.Config = p.taskConfig(c, path, t.Driver)
	} else {
		p.errAt(blk.DefRange(), field(path, "config"), "", "missing config block; the %s driver needs one", t.Driver)
		p.reported[field(path, "config.image")] = true
		p.reported[field(path, "config.command")] = true
	}
	if r := p.single(b, path, "", "resources"); r != nil {
		p.resources(r, path, &t.Resources)
	}
	if l := p.single(b, path, "", "lifecycle"); l != nil {
		t.Lifecycle = p.lifecycle(l, path)
	}
	pp := &policyPatch{}
	if r := p.single(b, path, "", "restart"); r != nil {
		pp.restart = p.restart(r, path)
	}
	p.patches[t] = pp
	// A task's services, constraints and affinities apply to its group: the tasks of
	// a group always run together on one peer.
	// Their positions are recorded under the group, where validation looks for them.
	for i, tb := range blocks(b, "template") {
		t.Templates = append(t.Templates, p.template(tb, path, i))
	}
	for i, ab := range blocks(b, "artifact") {
		t.Artifacts = append(t.Artifacts, p.artifact(ab, path, i))
	}
	for i, vb := range blocks(b, "volume_mount") {
		t.VolumeMounts = append(t.VolumeMounts, p.volumeMount(vb, path, i))
	}
	for _, s := range blocks(b, "service") {
		g.Services = append(g.Services, p.service(s, gpath, fmt.Sprintf("service[%d]", len(g.Services))))
	}
	g.Constraints = append(g.Constraints, p.constraints(b, gpath, len(g.Constraints))...)
	g.Affinities = append(g.Affinities, p.affinities(b, gpath, len(g.Affinities))...)
	return t
}

// lifecycle decodes a task's lifecycle block; validation checks the hook.
func (p *parser) lifecycle(blk *hclsyntax.Block, path string) *Lifecycle {
	const sub = "lifecycle."
	p.record(field(path, "lifecycle"), blk.DefRange())
	b := blk.Body
	p.checkBody(b, path, sub, spec{attrs: []string{"hook", "sidecar"}})
	l := &Lifecycle{}
	p.str(b, path, sub, "hook", &l.Hook)
	p.boolean(b, path, sub, "sidecar", &l.Sidecar)
	return l
}

// template decodes a task's i-th template block.
func (p *parser) template(blk *hclsyntax.Block, path string, i int) Template {
	sub := fmt.Sprintf("template[%d].", i)
	p.record(field(path, sub[:len(sub)-1]), blk.DefRange())
	b := blk.Body
	p.checkBody(b, path, sub, spec{
		attrs: []string{"data", "destination", "env", "perms", "left_delimiter", "right_delimiter", "change_mode",
			"change_signal", "splay"},
		blocks: []string{"change_script"},
		ignored: map[string]string{
			"source": "template source files are not read yet (not even from an artifact); put the template in data",
			"wait":   "a template re-renders as soon as a service it reads changes, then waits up to splay",
			"uid":    whyNotYet, "gid": whyNotYet,
			"error_on_missing_key": "a missing key renders as <no value>, as Go's text/template does",
			"vault_grace":          whyConsul,
		}})
	t := Template{ChangeMode: "restart", Splay: DefaultTemplateSplay}
	p.str(b, path, sub, "data", &t.Data)
	p.str(b, path, sub, "destination", &t.Destination)
	p.boolean(b, path, sub, "env", &t.Env)
	p.str(b, path, sub, "perms", &t.Perms)
	p.str(b, path, sub, "left_delimiter", &t.LeftDelim)
	p.str(b, path, sub, "right_delimiter", &t.RightDelim)
	p.str(b, path, sub, "change_signal", &t.ChangeSignal)
	p.duration(b, path, sub, "splay", &t.Splay)
	if cs := p.single(b, path, sub, "change_script"); cs != nil {
		csub := sub + "change_script."
		p.record(field(path, csub[:len(csub)-1]), cs.DefRange())
		p.checkBody(cs.Body, path, csub, spec{attrs: []string{"command", "args", "timeout", "fail_on_error"}})
		t.ChangeScript = &ChangeScript{Timeout: DefaultChangeScriptTimeout}
		p.str(cs.Body, path, csub, "command", &t.ChangeScript.Command)
		p.strList(cs.Body, path, csub, "args", &t.ChangeScript.Args)
		p.duration(cs.Body, path, csub, "timeout", &t.ChangeScript.Timeout)
		p.boolean(cs.Body, path, csub, "fail_on_error", &t.ChangeScript.FailOnError)
	}
	p.str(b, path, sub, "change_mode", &t.ChangeMode)
	return t
}

// taskConfig decodes the driver's config block.
func (p *parser) taskConfig(blk *hclsyntax.Block, path, driver string) TaskConfig {
	const sub = "config."
	p.record(field(path, "config"), blk.DefRange())
	var c TaskConfig
	b := blk.Body
	switch driver {
	case DriverExec:
		for _, k := range containerConfig {
			if a, ok := b.Attributes[k]; ok && !contains(execConfig, k) && execIgnored[k] == "" {
				p.errAt(a.NameRange, field(path, sub+k), p.text(a.Expr.Range()),
					"%s is not accepted by the exec driver; accepted: %s", k, acceptedList(execConfig))
				delete(b.Attributes, k)
			}
		}
		p.checkBody(b, path, sub, spec{attrs: execConfig, ignored: execIgnored})
	case DriverContainer, DriverDocker:
		p.checkBody(b, path, sub, spec{attrs: containerConfig, ignored: dockerIgnored})
	default:
		// The driver is reported by validation; check only against what any driver takes.
		p.checkBody(b, path, sub, spec{attrs: containerConfig})
	}
	p.str(b, path, sub, "image", &c.Image)
	p.str(b, path, sub, "command", &c.Command)
	p.strList(b, path, sub, "args", &c.Args)
	p.strList(b, path, sub, "entrypoint", &c.Entrypoint)
	p.strList(b, path, sub, "ports", &c.Ports)
	p.str(b, path, sub, "work_dir", &c.WorkDir)
	if driver != DriverContainer && driver != DriverDocker {
		return c // the exec driver's cap_add and cap_drop are warned about and ignored
	}
	p.boolean(b, path, sub, "readonly_rootfs", &c.ReadOnlyRootfs)
	p.integer(b, path, sub, "pids_limit", &c.PidsLimit)
	p.str(b, path, sub, "hostname", &c.Hostname)
	p.strList(b, path, sub, "dns_servers", &c.DNSServers)
	p.strList(b, path, sub, "dns_search_domains", &c.DNSSearchDomains)
	p.strList(b, path, sub, "dns_options", &c.DNSOptions)
	p.strList(b, path, sub, "cap_add", &c.CapAdd)
	p.strList(b, path, sub, "cap_drop", &c.CapDrop)
	p.strList(b, path, sub, "extra_hosts", &c.ExtraHosts)
	return c
}

// resources decodes a resources block over the defaults already in r.
func (p *parser) resources(blk *hclsyntax.Block, path string, r *Resources) {
	const sub = "resources."
	p.record(field(path, "resources"), blk.DefRange())
	p.checkBody(blk.Body, path, sub, spec{attrs: []string{"cpu", "memory", "memory_max"},
		ignored: map[string]string{
			"cores":   "reserved cores are not supported; the task gets cpu (MHz) instead",
			"network": "network in resources is deprecated in Nomad; use the group's network block",
			"device":  "devices are not supported", "disk": "use the group's ephemeral_disk", "iops": "not supported",
			"numa": "not supported", "secrets": "not supported",
		}})
	p.integer(blk.Body, path, sub, "cpu", &r.CPU)
	p.integer(blk.Body, path, sub, "memory", &r.MemoryMB)
	p.integer(blk.Body, path, sub, "memory_max", &r.MemoryMaxMB)
}

// network decodes a group's network block.
func (p *parser) network(blk *hclsyntax.Block, path string) *Network {
	const sub = "network."
	p.record(field(path, "network"), blk.DefRange())
	n := &Network{Mode: "host"}
	b := blk.Body
	p.checkBody(b, path, sub, spec{attrs: []string{"mode", "hostname"}, blocks: []string{"port", "dns"},
		ignored: map[string]string{"mbits": "bandwidth is not reserved",
			"reserved_ports": "use port blocks with static", "dynamic_ports": "use port blocks without static",
			"cni": whyNotYet}})
	p.str(b, path, sub, "mode", &n.Mode)
	p.str(b, path, sub, "hostname", &n.Hostname)
	if db := p.single(b, path, sub, "dns"); db != nil {
		dsub := sub + "dns."
		p.record(field(path, sub+"dns"), db.DefRange())
		p.checkBody(db.Body, path, dsub, spec{attrs: []string{"servers", "searches", "options"}})
		n.DNS = &DNS{}
		p.strList(db.Body, path, dsub, "servers", &n.DNS.Servers)
		p.strList(db.Body, path, dsub, "searches", &n.DNS.Searches)
		p.strList(db.Body, path, dsub, "options", &n.DNS.Options)
	}
	for _, pb := range blocks(b, "port") {
		if !p.labels(pb, field(path, sub+"port"), 1, `port "http" { static = 8080 }`) {
			continue
		}
		pt := Port{Label: pb.Labels[0]}
		psub := fmt.Sprintf("%sport %q.", sub, pt.Label)
		p.record(field(path, psub[:len(psub)-1]), pb.DefRange())
		p.checkBody(pb.Body, path, psub, spec{attrs: []string{"static", "to"},
			ignored: map[string]string{"host_network": "host networks are not supported; ports bind on the peer's address"}})
		p.integer(pb.Body, path, psub, "static", &pt.Static)
		p.integer(pb.Body, path, psub, "to", &pt.To)
		n.Ports = append(n.Ports, pt)
	}
	return n
}

// service decodes a service block (of a group, or of a task: it goes to the group).
func (p *parser) service(blk *hclsyntax.Block, path, name string) Service {
	sub := name + "."
	p.record(field(path, name), blk.DefRange())
	var s Service
	b := blk.Body
	p.checkBody(b, path, sub, spec{attrs: []string{"name", "port", "tags"}, blocks: []string{"check"},
		ignored: map[string]string{"provider": "Shoal serves every service from its own catalog (peer service info NAME, GET /v1/service/NAME)", "connect": whyConsul,
			"canary_tags": whyNotYet, "tagged_addresses": whyConsul, "meta": whyConsul, "canary_meta": whyConsul,
			"address_mode": whyNotYet, "address": whyNotYet, "enable_tag_override": whyConsul,
			"task": "services are checked for the whole group", "on_update": whyNotYet, "identity": whyIdentity,
			"cluster": whyConsul, "weights": whyConsul}})
	if p.labels(blk, field(path, name), 0, `service { name = "web" port = "http" }`) {
		p.str(b, path, sub, "name", &s.Name)
		p.str(b, path, sub, "port", &s.Port)
		p.strList(b, path, sub, "tags", &s.Tags)
	}
	for i, cb := range blocks(b, "check") {
		csub := fmt.Sprintf("%scheck[%d].", sub, i)
		p.record(field(path, csub[:len(csub)-1]), cb.DefRange())
		var c Check
		p.checkBody(cb.Body, path, csub, spec{attrs: []string{"name", "type", "path", "interval", "timeout", "port", "command", "args", "task"},
			ignored: map[string]string{"method": "checks use GET", "header": whyNotYet, "protocol": "checks use plain http",
				"initial_status": whyNotYet, "check_restart": whyNotYet, "address_mode": whyNotYet,
				"tls_skip_verify": whyNotYet, "success_before_passing": whyNotYet, "failures_before_critical": whyNotYet,
				"failures_before_warning": whyNotYet, "expose": whyConsul, "on_update": whyNotYet, "body": whyNotYet,
				"notes": whyConsul, "tls_server_name": whyNotYet}})
		p.str(cb.Body, path, csub, "name", &c.Name)
		p.str(cb.Body, path, csub, "type", &c.Type)
		p.str(cb.Body, path, csub, "path", &c.Path)
		p.duration(cb.Body, path, csub, "interval", &c.Interval)
		p.duration(cb.Body, path, csub, "timeout", &c.Timeout)
		p.str(cb.Body, path, csub, "port", &c.PortLabel)
		p.str(cb.Body, path, csub, "command", &c.Command)
		p.strList(cb.Body, path, csub, "args", &c.Args)
		p.str(cb.Body, path, csub, "task", &c.TaskName)
		s.Checks = append(s.Checks, c)
	}
	return s
}
