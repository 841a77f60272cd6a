package jobspec

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/capability"
)

// Accepted values, for validation and its messages.
var (
	jobTypes          = []string{TypeService, TypeBatch, TypeSystem}
	restartModes      = []string{"fail", "delay"}
	delayFunctions    = []string{"constant", "exponential", "fibonacci"}
	healthChecks      = []string{"checks", "task_states"}
	networkModes      = []string{"host", "bridge", "none"}
	checkTypes        = []string{"http", "tcp", "script"}
	lifecycleHooks    = []string{HookPrestart, HookPoststart, HookPoststop}
	affinityOperators = []string{"=", "==", "is", "!=", "not", ">", ">=", "<", "<=", "regexp",
		"set_contains_all", "set_contains_any", "version", "semver"}
	constraintOperators = append(append([]string{}, affinityOperators...),
		"set_contains", "distinct_hosts", "distinct_property", "is_set", "is_not_set")
	signals = []string{"SIGABRT", "SIGALRM", "SIGHUP", "SIGINT", "SIGKILL", "SIGQUIT", "SIGTERM",
		"SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGPWR", "SIGSTOP", "SIGCONT", "SIGTSTP", "SIGXCPU"}
)

const (
	minMemoryMB = 10
	maxPort     = 65535
	idChars     = "letters, digits, '-', '_' and '.'"
)

var (
	idRE        = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	portLabelRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	// hostnameRE: RFC 1123 labels; a Linux hostname has at most 63 characters in all
	// (checked apart).
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
)

// Validate checks a job (typically one that arrived as JSON, after Canonicalize) and
// returns every problem at once as Diagnostics, each naming the field by path, e.g.
// `group "web" task "srv": resources.memory`; nil when the job is valid.
func (j *Job) Validate() error {
	if j == nil {
		return Diagnostics{{Message: "no job"}}
	}
	return j.validate().Err()
}

// validator collects diagnostics.
type validator struct{ diags Diagnostics }

func (v *validator) errf(f string, value any, format string, args ...any) {
	v.diags = append(v.diags, Diagnostic{Field: f, Value: fmt.Sprint(value), Message: fmt.Sprintf(format, args...)})
}

// oneOf reports got unless it is one of accepted.
func (v *validator) oneOf(f, what, got string, accepted []string) {
	if contains(accepted, got) {
		return
	}
	v.errf(f, got, "unknown %s %q; accepted: %s%s", what, got, acceptedList(accepted), suggest(got, accepted))
}

func (v *validator) nonNegative(f string, d time.Duration) {
	if d < 0 {
		v.errf(f, d, "%s is negative; want zero or more", d)
	}
}

func (v *validator) identifier(f, what, s string) {
	switch {
	case s == "":
		v.errf(f, s, "%s is empty; want a name of %s", what, idChars)
	case len(s) > 128:
		v.errf(f, s, "%s is %d characters long; at most 128 are accepted", what, len(s))
	case !idRE.MatchString(s):
		v.errf(f, s, "%s %q has characters other than %s", what, s, idChars)
	}
}

func (j *Job) validate() Diagnostics {
	v := &validator{}
	v.identifier("id", "job id", j.ID)
	if j.Name == "" {
		v.errf("name", "", "job name is empty")
	}
	v.oneOf("type", "job type", j.Type, jobTypes)
	for i, dc := range j.Datacenters {
		if dc == "" {
			v.errf(fmt.Sprintf("datacenters[%d]", i), dc, "datacenter name is empty")
		} else if _, err := path.Match(dc, ""); err != nil {
			v.errf(fmt.Sprintf("datacenters[%d]", i), dc, "%q is not a valid datacenter pattern; accepted: a name, or a glob such as \"*\" or \"us-*\"", dc)
		}
	}
	if j.Priority < 1 || j.Priority > 100 {
		v.errf("priority", j.Priority, "priority %d is out of range; accepted: 1 to 100", j.Priority)
	}
	v.constraints("", j.Constraints)
	v.affinities("", j.Affinities)
	v.spreads("", j.Spreads)
	if j.Update != nil {
		v.update("", j.Update)
	}
	v.periodic(j)
	if len(j.Groups) == 0 {
		v.errf("", j.ID, "job %q has no group", j.ID)
	}
	seen := map[string]bool{}
	for i, g := range j.Groups {
		if g == nil {
			v.errf(fmt.Sprintf("group[%d]", i), "null", "group is null")
			continue
		}
		if seen[g.Name] {
			v.diags = append(v.diags, Diagnostic{Field: groupPath(g.Name), Value: g.Name,
				Message: fmt.Sprintf("group name %q is used more than once; group names must be unique in a job", g.Name), last: true})
		}
		seen[g.Name] = true
		v.group(j, g)
	}
	return v.diags
}

func (v *validator) group(j *Job, g *Group) {
	path := groupPath(g.Name)
	v.identifier(path, "group name", g.Name)
	if g.Count < 0 {
		v.errf(field(path, "count"), g.Count, "count %d is negative; want 0 or more", g.Count)
	}
	v.constraints(path, g.Constraints)
	v.affinities(path, g.Affinities)
	v.spreads(path, g.Spreads)
	if g.Restart != nil {
		v.restart(path, g.Restart)
	}
	if r := g.Reschedule; r != nil {
		v.oneOf(field(path, "reschedule.delay_function"), "delay_function", r.DelayFunction, delayFunctions)
		if r.Attempts < 0 {
			v.errf(field(path, "reschedule.attempts"), r.Attempts, "attempts %d is negative; want 0 or more", r.Attempts)
		}
		v.nonNegative(field(path, "reschedule.interval"), r.Interval)
		v.nonNegative(field(path, "reschedule.delay"), r.Delay)
		if r.DelayFunction != "constant" && r.MaxDelay < r.Delay {
			v.errf(field(path, "reschedule.max_delay"), r.MaxDelay, "max_delay %s is less than delay %s; want max_delay >= delay for %s backoff", r.MaxDelay, r.Delay, r.DelayFunction)
		}
		if !r.Unlimited && r.Attempts > 0 && r.Interval <= 0 {
			v.errf(field(path, "reschedule.interval"), r.Interval, "interval must be positive when attempts is limited (attempts = %d)", r.Attempts)
		}
	}
	if g.Update != nil && (j.Update == nil || *g.Update != *j.Update) {
		// An update inherited unchanged from the job was checked there.
		v.update(path, g.Update)
	}
	if d := g.EphemeralDisk; d != nil && d.SizeMB < 0 {
		v.errf(field(path, "ephemeral_disk.size"), d.SizeMB, "size %d is negative; want 0 or more (MB)", d.SizeMB)
	}
	ports := v.network(path, g.Network)
	v.volumes(path, g.Volumes)
	for i, s := range g.Services {
		v.service(path, fmt.Sprintf("service[%d]", i), s, ports, g.Tasks)
	}
	if len(g.Tasks) == 0 {
		v.errf(path, g.Name, "group %q has no task", g.Name)
	}
	seen, leaders, mains := map[string]bool{}, 0, 0
	for i, t := range g.Tasks {
		if t == nil {
			v.errf(field(path, fmt.Sprintf("task[%d]", i)), "null", "task is null")
			continue
		}
		if seen[t.Name] {
			v.diags = append(v.diags, Diagnostic{Field: taskPath(g.Name, t.Name), Value: t.Name,
				Message: fmt.Sprintf("task name %q is used more than once in group %q; task names must be unique in a group", t.Name, g.Name), last: true})
		}
		seen[t.Name] = true
		if t.Leader && !t.IsMain() {
			v.errf(field(taskPath(g.Name, t.Name), "leader"), true, "a task with a lifecycle block cannot be the leader of group %q: only a main task (one without a lifecycle block) can", g.Name)
		}
		if t.Leader {
			leaders++
			if leaders == 2 {
				v.errf(field(taskPath(g.Name, t.Name), "leader"), true, "more than one task of group %q is the leader; at most one may be", g.Name)
			}
		}
		if t.IsMain() {
			mains++
		}
		v.task(g, t, ports)
	}
	if len(g.Tasks) > 0 && mains == 0 {
		v.errf(path, g.Name, "group %q has no main task: every task has a lifecycle block; at least one task must have none (hooks run around the main tasks)", g.Name)
	}
}

func (v *validator) restart(path string, r *RestartPolicy) {
	if r.Attempts < 0 {
		v.errf(field(path, "restart.attempts"), r.Attempts, "attempts %d is negative; want 0 or more", r.Attempts)
	}
	v.nonNegative(field(path, "restart.interval"), r.Interval)
	v.nonNegative(field(path, "restart.delay"), r.Delay)
	v.oneOf(field(path, "restart.mode"), "restart mode", r.Mode, restartModes)
	// As Nomad: the attempts must fit in the interval.
	if r.Attempts > 0 && r.Delay >= 0 && r.Interval > 0 && time.Duration(r.Attempts)*r.Delay > r.Interval {
		v.errf(field(path, "restart.interval"), r.Interval, "%d attempts %s apart do not fit in an interval of %s; lengthen interval or shorten delay",
			r.Attempts, r.Delay, r.Interval)
	}
}

func (v *validator) update(path string, u *Update) {
	if u.MaxParallel < 0 {
		v.errf(field(path, "update.max_parallel"), u.MaxParallel, "max_parallel %d is negative; want 0 or more", u.MaxParallel)
	}
	if u.Canary < 0 {
		v.errf(field(path, "update.canary"), u.Canary, "canary %d is negative; want 0 or more", u.Canary)
	}
	if u.HealthCheck == "manual" {
		// Accepted before, and treated as "checks": a rollout then went on by
		// itself where a Nomad user expects it to wait for their mark.
		v.errf(field(path, "update.health_check"), u.HealthCheck, "health_check \"manual\" is not supported: Shoal has no API to mark allocations healthy; accepted: checks (the default) or task_states")
	} else {
		v.oneOf(field(path, "update.health_check"), "health_check", u.HealthCheck, healthChecks)
	}
	for name, d := range map[string]time.Duration{"min_healthy_time": u.MinHealthyTime, "healthy_deadline": u.HealthyDeadline,
		"progress_deadline": u.ProgressDeadline, "stagger": u.Stagger} {
		v.nonNegative(field(path, "update."+name), d)
	}
	if u.HealthyDeadline > 0 && u.MinHealthyTime >= u.HealthyDeadline {
		v.errf(field(path, "update.min_healthy_time"), u.MinHealthyTime, "min_healthy_time %s must be shorter than healthy_deadline %s", u.MinHealthyTime, u.HealthyDeadline)
	}
	if u.ProgressDeadline > 0 && u.HealthyDeadline > u.ProgressDeadline {
		v.errf(field(path, "update.healthy_deadline"), u.HealthyDeadline, "healthy_deadline %s must not be longer than progress_deadline %s", u.HealthyDeadline, u.ProgressDeadline)
	}
}

func (v *validator) constraints(path string, cs []Constraint) {
	for i, c := range cs {
		sub := fmt.Sprintf("constraint[%d].", i)
		v.oneOf(field(path, sub+"operator"), "constraint operator", c.Operand, constraintOperators)
		switch c.Operand {
		case "distinct_hosts":
		case "distinct_property":
			if c.LTarget == "" {
				v.errf(field(path, sub+"distinct_property"), "", "distinct_property needs a property, e.g. \"${meta.rack}\"")
			}
		case "is_set", "is_not_set":
			if c.LTarget == "" {
				v.errf(field(path, sub+"attribute"), "", "constraint needs an attribute, e.g. \"${attr.kernel.name}\"")
			}
		default:
			if c.LTarget == "" && c.RTarget == "" {
				v.errf(field(path, sub[:len(sub)-1]), "", "constraint needs an attribute and a value, e.g. attribute = \"${attr.kernel.name}\" value = \"linux\"")
			}
			v.regexp(field(path, sub+"value"), c.Operand, c.RTarget)
		}
	}
}

func (v *validator) regexp(f, op, value string) {
	if op != "regexp" {
		return
	}
	if _, err := regexp.Compile(value); err != nil {
		v.errf(f, value, "%q is not a valid regular expression: %v", value, err)
	}
}

func (v *validator) affinities(path string, as []Affinity) {
	for i, a := range as {
		sub := fmt.Sprintf("affinity[%d].", i)
		v.oneOf(field(path, sub+"operator"), "affinity operator", a.Operand, affinityOperators)
		if a.LTarget == "" || a.RTarget == "" {
			v.errf(field(path, sub[:len(sub)-1]), "", "affinity needs an attribute and a value, e.g. attribute = \"${node.datacenter}\" value = \"dc1\"")
		}
		if a.Weight < -100 || a.Weight > 100 || a.Weight == 0 {
			v.errf(field(path, sub+"weight"), a.Weight, "weight %d is out of range; accepted: -100 to 100, not 0", a.Weight)
		}
		v.regexp(field(path, sub+"value"), a.Operand, a.RTarget)
	}
}

func (v *validator) spreads(path string, ss []Spread) {
	for i, s := range ss {
		sub := fmt.Sprintf("spread[%d].", i)
		if s.Attribute == "" {
			v.errf(field(path, sub+"attribute"), "", "spread needs an attribute, e.g. \"${node.datacenter}\"")
		}
		if s.Weight < 0 || s.Weight > 100 {
			v.errf(field(path, sub+"weight"), s.Weight, "weight %d is out of range; accepted: 0 to 100", s.Weight)
		}
		sum, seen := 0, map[string]bool{}
		for _, t := range s.Targets {
			tf := field(path, fmt.Sprintf("%starget %s.percent", sub, quote(t.Value)))
			if t.Percent < 0 || t.Percent > 100 {
				v.errf(tf, t.Percent, "percent %d is out of range; accepted: 0 to 100", t.Percent)
			}
			if seen[t.Value] {
				v.errf(field(path, fmt.Sprintf("%starget %s", sub, quote(t.Value))), t.Value, "target %q is listed twice", t.Value)
			}
			seen[t.Value] = true
			sum += t.Percent
		}
		if sum > 100 {
			v.errf(field(path, sub[:len(sub)-1]), sum, "target percents add up to %d; they must add up to at most 100", sum)
		}
	}
}

// network checks a group's network and returns its port labels.
func (v *validator) network(path string, n *Network) map[string]bool {
	labels := map[string]bool{}
	if n == nil {
		return labels
	}
	v.oneOf(field(path, "network.mode"), "network mode", n.Mode, networkModes)
	statics := map[int]string{}
	for _, p := range n.Ports {
		pf := field(path, "network.port "+quote(p.Label))
		switch {
		case !portLabelRE.MatchString(p.Label):
			v.errf(pf, p.Label, "port label %q has characters other than letters, digits and '_'", p.Label)
		case labels[p.Label]:
			v.errf(pf, p.Label, "port label %q is used more than once; port labels must be unique in a group", p.Label)
		}
		labels[p.Label] = true
		if p.Static < 0 || p.Static > maxPort {
			v.errf(pf+".static", p.Static, "static port %d is out of range; accepted: 1 to %d (0 picks a free port)", p.Static, maxPort)
		} else if other, dup := statics[p.Static]; dup && p.Static != 0 {
			v.errf(pf+".static", p.Static, "static port %d is also used by port %q", p.Static, other)
		}
		statics[p.Static] = p.Label
		if p.To < -1 || p.To > maxPort {
			v.errf(pf+".to", p.To, "port %d is out of range; accepted: 1 to %d (0 or -1: same as the host port)", p.To, maxPort)
		}
	}
	if n.Mode == "none" && len(n.Ports) > 0 {
		v.errf(field(path, "network.mode"), n.Mode, "network mode \"none\" cannot have ports")
	}
	if n.DNS != nil {
		v.dns(field(path, "network.dns."), [3]string{"servers", "searches", "options"}, n.DNS.Servers, n.DNS.Searches, n.DNS.Options)
		if len(n.DNS.Servers) == 0 && len(n.DNS.Searches) == 0 && len(n.DNS.Options) == 0 {
			v.errf(field(path, "network.dns"), "", "the dns block sets nothing; accepted: servers, searches and options")
		}
	}
	v.hostname(field(path, "network.hostname"), n.Hostname)
	return labels
}

// dns checks a resolver configuration whose three lists are named prefix+names[i]:
// nameservers are IP addresses, search domains and options one word each.
func (v *validator) dns(prefix string, names [3]string, servers, searches, options []string) {
	for _, s := range servers {
		if net.ParseIP(s) == nil {
			v.errf(prefix+names[0], s, "%q is not an IP address; accepted: nameservers as IPv4 or IPv6 addresses, e.g. \"8.8.8.8\"", s)
		}
	}
	for i, words := range [][]string{searches, options} {
		for _, w := range words {
			if w == "" || strings.ContainsAny(w, " \t\n") {
				v.errf(prefix+names[i+1], w, "%q is not one word; accepted: one domain or option per list item, e.g. \"ndots:2\"", w)
			}
		}
	}
}

// hostname checks h (field f) unless it uses the task's environment: that one is
// checked once interpolated.
func (v *validator) hostname(f, h string) {
	if h != "" && !strings.Contains(h, "${") && !isHostname(h) {
		v.errf(f, h, "%q is not a hostname; accepted: at most 63 letters, digits, '-' and '.' (dot-separated labels, none starting or ending with '-')", h)
	}
}

func isHostname(h string) bool { return len(h) <= 63 && hostnameRE.MatchString(h) }

// portRef checks a reference to a port: a label of the group's network, or a number.
func (v *validator) portRef(f, ref string, labels map[string]bool) {
	if labels[ref] {
		return
	}
	if n, err := strconv.Atoi(ref); err == nil && n > 0 && n <= maxPort {
		return
	}
	known := sortedKeys(labels)
	msg := "the group's network has no port labelled %q"
	if len(known) == 0 {
		v.errf(f, ref, msg+"; add network { port %q { to = PORT } }", ref, ref)
		return
	}
	v.errf(f, ref, msg+"; accepted: %s%s", ref, acceptedList(known), suggest(ref, known))
}

func (v *validator) service(path, name string, s Service, ports map[string]bool, tasks []*Task) {
	if s.Port != "" {
		v.portRef(field(path, name+".port"), s.Port, ports)
	}
	for i, c := range s.Checks {
		sub := fmt.Sprintf("%s.check[%d].", name, i)
		v.oneOf(field(path, sub+"type"), "check type", c.Type, checkTypes)
		if c.Type == "http" && !strings.HasPrefix(c.Path, "/") {
			v.errf(field(path, sub+"path"), c.Path, "an http check needs a path starting with '/', got %q", c.Path)
		}
		if c.Interval <= 0 {
			v.errf(field(path, sub+"interval"), c.Interval, "a check needs a positive interval, such as \"10s\"")
		}
		if c.Timeout <= 0 {
			v.errf(field(path, sub+"timeout"), c.Timeout, "a check needs a positive timeout, such as \"2s\"")
		}
		if c.Type == "script" {
			v.scriptCheck(path, sub, c, tasks)
			continue
		}
		switch {
		case c.PortLabel != "":
			v.portRef(field(path, sub+"port"), c.PortLabel, ports)
		case s.Port == "":
			v.errf(field(path, sub[:len(sub)-1]), "", "the check has no port to check; set port in the service or the check")
		}
		if c.Command != "" || c.TaskName != "" || len(c.Args) > 0 {
			v.errf(field(path, sub+"command"), c.Command, "command, args and task are for type = \"script\" checks, not %q", c.Type)
		}
	}
}

// scriptCheck checks a script check's command and the task it runs in.
func (v *validator) scriptCheck(path, sub string, c Check, tasks []*Task) {
	if c.Command == "" {
		v.errf(field(path, sub+"command"), "", "a script check needs command, the program to run inside the task, e.g. command = \"/bin/check\"")
	}
	var names []string
	for _, t := range tasks {
		names = append(names, t.Name)
	}
	switch {
	case c.TaskName == "" && len(tasks) > 1:
		v.errf(field(path, sub+"task"), "", "a script check in a group of several tasks needs task, the task to run it in; accepted: %s", acceptedList(names))
	case c.TaskName != "" && !contains(names, c.TaskName):
		v.errf(field(path, sub+"task"), c.TaskName, "the group has no task %q; accepted: %s%s", c.TaskName, acceptedList(names), suggest(c.TaskName, names))
	}
}

func (v *validator) task(g *Group, t *Task, ports map[string]bool) {
	path := taskPath(g.Name, t.Name)
	v.identifier(path, "task name", t.Name)
	v.oneOf(field(path, "driver"), "driver", t.Driver, drivers)
	c := t.Config
	switch t.Driver {
	case DriverContainer, DriverDocker:
		if c.Image == "" {
			v.errf(field(path, "config.image"), "", "the %s driver needs an image, e.g. image = \"busybox:latest\"", t.Driver)
		}
		v.dockerOptions(path, c)
	case DriverExec:
		if c.Command == "" {
			v.errf(field(path, "config.command"), "", "the exec driver needs a command, e.g. command = \"/bin/sleep\"")
		}
		// Only a job sent as JSON can get here with these: HCL refuses them earlier.
		// In containerConfig's order, so that the errors come in one order.
		set := map[string]bool{"image": c.Image != "", "entrypoint": len(c.Entrypoint) > 0, "ports": len(c.Ports) > 0, "work_dir": c.WorkDir != "",
			"readonly_rootfs": c.ReadOnlyRootfs, "pids_limit": c.PidsLimit != 0, "hostname": c.Hostname != "", "dns_servers": len(c.DNSServers) > 0,
			"dns_search_domains": len(c.DNSSearchDomains) > 0, "dns_options": len(c.DNSOptions) > 0, "cap_add": len(c.CapAdd) > 0,
			"cap_drop": len(c.CapDrop) > 0, "extra_hosts": len(c.ExtraHosts) > 0}
		for _, name := range containerConfig {
			if set[name] {
				v.errf(field(path, "config."+name), name, "%s is not accepted by the exec driver; accepted: %s", name, acceptedList(execConfig))
			}
		}
	}
	for i, p := range c.Ports {
		v.portRef(field(path, fmt.Sprintf("config.ports[%d]", i)), p, ports)
	}
	r := t.Resources
	if r.CPU <= 0 {
		v.errf(field(path, "resources.cpu"), r.CPU, "cpu %d is too small; want at least 1 (MHz)", r.CPU)
	}
	if r.MemoryMB < minMemoryMB {
		v.errf(field(path, "resources.memory"), r.MemoryMB, "memory %d is too small; want at least %d (MB)", r.MemoryMB, minMemoryMB)
	}
	if r.MemoryMaxMB != 0 && r.MemoryMaxMB < r.MemoryMB {
		v.errf(field(path, "resources.memory_max"), r.MemoryMaxMB, "memory_max %d is less than memory %d; want memory_max >= memory (or unset)", r.MemoryMaxMB, r.MemoryMB)
	}
	v.nonNegative(field(path, "kill_timeout"), t.KillTimeout)
	v.templates(path, t.Templates)
	v.artifacts(path, t.Artifacts)
	v.volumeMounts(g, path, t.VolumeMounts)
	if t.KillSignal != "" {
		v.oneOf(field(path, "kill_signal"), "kill_signal", t.KillSignal, signals)
	}
	if l := t.Lifecycle; l != nil {
		switch {
		case l.Hook == "":
			v.errf(field(path, "lifecycle.hook"), "", "the lifecycle block needs a hook; accepted: %s", acceptedList(lifecycleHooks))
		default:
			v.oneOf(field(path, "lifecycle.hook"), "lifecycle hook", l.Hook, lifecycleHooks)
		}
		if l.Hook == HookPoststop && l.Sidecar {
			v.diags = append(v.diags, Diagnostic{Severity: SeverityWarning, Field: field(path, "lifecycle.sidecar"), Value: "true",
				Message: "ignored: a poststop task runs to completion once the main tasks have ended; it cannot be a sidecar"})
		}
	}
	if t.Restart != nil && (g.Restart == nil || *t.Restart != *g.Restart) {
		// A restart policy inherited unchanged from the group was checked there.
		v.restart(path, t.Restart)
	}
}

func quote(s string) string { return strconv.Quote(s) }

// maxPidsLimit is the kernel's pid_max ceiling.
const maxPidsLimit = 1 << 22

// dockerOptions checks the Nomad docker options the container driver applies.
// Whether a peer allows a capability cap_add asks for is that peer's to say (as
// Nomad's allow_caps is the client's): only the names are checked here.
func (v *validator) dockerOptions(path string, c TaskConfig) {
	if c.PidsLimit < 0 || c.PidsLimit > maxPidsLimit {
		v.errf(field(path, "config.pids_limit"), c.PidsLimit, "pids_limit %d is out of range; accepted: 1 to %d (0: the peer's default)", c.PidsLimit, maxPidsLimit)
	}
	v.hostname(field(path, "config.hostname"), c.Hostname)
	v.dns(field(path, "config."), [3]string{"dns_servers", "dns_search_domains", "dns_options"}, c.DNSServers, c.DNSSearchDomains, c.DNSOptions)
	for _, name := range c.CapAdd {
		if !knownCapability(name) {
			v.errf(field(path, "config.cap_add"), name, "%q is not a Linux capability; accepted: names such as \"net_raw\" or \"CAP_NET_RAW\"%s", name, suggestCapability(name))
		}
	}
	for _, name := range c.CapDrop {
		if !knownCapability(name) && !strings.EqualFold(name, "all") {
			v.errf(field(path, "config.cap_drop"), name, "%q is not a Linux capability; accepted: names such as \"net_raw\" or \"CAP_NET_RAW\", or \"all\"%s", name, suggestCapability(name))
		}
	}
	for _, h := range c.ExtraHosts {
		name, ip, ok := strings.Cut(h, ":")
		if !ok || !isHostname(name) || net.ParseIP(ip) == nil {
			v.errf(field(path, "config.extra_hosts"), h, "%q is not a host entry; accepted: \"hostname:IP\", e.g. \"db.internal:10.0.0.5\" or \"db:fd00::5\"", h)
		}
	}
}

// knownCapability reports whether name is a Linux capability, in any case, with or
// without its CAP_ prefix.
func knownCapability(name string) bool {
	return slices.Contains(capabilityNames(), bareCapability(name))
}

func suggestCapability(name string) string { return suggest(bareCapability(name), capabilityNames()) }

// bareCapability is name in lower case without its CAP_ prefix, as capability.Cap prints.
func bareCapability(name string) string {
	return strings.ToLower(strings.TrimPrefix(strings.ToUpper(name), "CAP_"))
}

// capabilityNames lists the capabilities the kernel headers know ("chown", "net_raw", ...).
func capabilityNames() []string {
	var out []string
	for _, c := range capability.ListKnown() {
		out = append(out, c.String())
	}
	return out
}
