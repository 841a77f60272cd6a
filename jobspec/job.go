package jobspec

import "time"

// Job types, as in Nomad.
const (
	TypeService = "service"
	TypeBatch   = "batch"
	TypeSystem  = "system"
)

// Drivers a task may name. DriverDocker is accepted as an alias of DriverContainer
// so that a Nomad user's docker job runs unchanged; validation normalises it.
const (
	DriverContainer = "container"
	DriverExec      = "exec"
	DriverDocker    = "docker"
)

// Job is the desired state a user submits: what to run, how many, and where it may go.
// A Job is a value: once parsed and validated it is not mutated; a change is a new Job
// with a higher Version. Field order is the canonical encoding's order.
type Job struct {
	ID          string            `json:"ID" codec:"id"`
	Name        string            `json:"Name" codec:"name"`
	Type        string            `json:"Type" codec:"type"`
	Datacenters []string          `json:"Datacenters" codec:"dcs"`
	Priority    int               `json:"Priority" codec:"prio"`
	Meta        map[string]string `json:"Meta,omitempty" codec:"meta"`
	Constraints []Constraint      `json:"Constraints,omitempty" codec:"cons"`
	Affinities  []Affinity        `json:"Affinities,omitempty" codec:"aff"`
	Spreads     []Spread          `json:"Spreads,omitempty" codec:"spr"`
	Update      *Update           `json:"Update,omitempty" codec:"upd"`
	Groups      []*Group          `json:"TaskGroups" codec:"groups"`
	// Periodic makes the job a parent that launches a child batch job at each tick
	// of its cron expressions; nil for any other job.
	Periodic *Periodic `json:"Periodic,omitempty" codec:"periodic,omitempty"`
	// ParentID is the periodic parent that launched this job ("" for a job a user
	// submitted).
	ParentID string `json:"ParentID,omitempty" codec:"parent,omitempty"`

	// Version is assigned by the cluster when the job is submitted (0 in a parsed file).
	Version uint64 `json:"Version" codec:"ver"`
}

// Group is a set of tasks placed together on one peer, Count times.
type Group struct {
	Name          string            `json:"Name" codec:"name"`
	Count         int               `json:"Count" codec:"count"`
	Meta          map[string]string `json:"Meta,omitempty" codec:"meta"`
	Constraints   []Constraint      `json:"Constraints,omitempty" codec:"cons"`
	Affinities    []Affinity        `json:"Affinities,omitempty" codec:"aff"`
	Spreads       []Spread          `json:"Spreads,omitempty" codec:"spr"`
	Restart       *RestartPolicy    `json:"RestartPolicy,omitempty" codec:"restart"`
	Reschedule    *ReschedulePolicy `json:"ReschedulePolicy,omitempty" codec:"resched"`
	Update        *Update           `json:"Update,omitempty" codec:"upd"`
	Network       *Network          `json:"Network,omitempty" codec:"net"`
	Services      []Service         `json:"Services,omitempty" codec:"svcs"`
	EphemeralDisk *EphemeralDisk    `json:"EphemeralDisk,omitempty" codec:"disk"`
	// Volumes are the group's volume blocks by label (see VolumeRequest).
	Volumes map[string]VolumeRequest `json:"Volumes,omitempty" codec:"vols"`
	Tasks   []*Task                  `json:"Tasks" codec:"tasks"`
}

// Task is one process run by a driver.
type Task struct {
	Name        string            `json:"Name" codec:"name"`
	Driver      string            `json:"Driver" codec:"driver"`
	Config      TaskConfig        `json:"Config" codec:"cfg"`
	Env         map[string]string `json:"Env,omitempty" codec:"env"`
	Resources   Resources         `json:"Resources" codec:"res"`
	User        string            `json:"User,omitempty" codec:"user"`
	KillTimeout time.Duration     `json:"KillTimeout" codec:"killto"`
	KillSignal  string            `json:"KillSignal,omitempty" codec:"killsig"`
	Meta        map[string]string `json:"Meta,omitempty" codec:"meta"`
	Restart     *RestartPolicy    `json:"RestartPolicy,omitempty" codec:"restart"`
	Leader      bool              `json:"Leader,omitempty" codec:"leader"`
	Templates   []Template        `json:"Templates,omitempty" codec:"tmpl"`
	// Artifacts are fetched into the task directory before its templates render.
	// omitempty keeps the encoding, and so the hash, of jobs without any as it was.
	Artifacts []Artifact `json:"Artifacts,omitempty" codec:"arts,omitempty"`
	// VolumeMounts mount the group's volumes into the task.
	VolumeMounts []VolumeMount `json:"VolumeMounts,omitempty" codec:"vmounts"`
	// Lifecycle places the task before, beside or after its group's main tasks;
	// nil for a main task.
	Lifecycle *Lifecycle `json:"Lifecycle,omitempty" codec:"life"`
}

// Lifecycle hooks, as in Nomad.
const (
	HookPrestart  = "prestart"  // runs before the main tasks start
	HookPoststart = "poststart" // starts once the main tasks run
	HookPoststop  = "poststop"  // runs after the main tasks end
)

// Lifecycle is Nomad's task lifecycle block. A hook task that is not a sidecar runs
// to completion (exit 0) and is not started again; a sidecar runs, and is
// restarted, for as long as the main tasks do. A poststop task always runs to
// completion.
type Lifecycle struct {
	Hook    string `json:"Hook" codec:"hook"`
	Sidecar bool   `json:"Sidecar,omitempty" codec:"sidecar"`
}

// String is the hook, followed by " sidecar" for a sidecar ("prestart sidecar"), as
// nomad alloc status labels a task.
func (l *Lifecycle) String() string {
	if l.Sidecar {
		return l.Hook + " sidecar"
	}
	return l.Hook
}

// LifecycleHooks maps the group's tasks with a lifecycle block to their hooks
// (Lifecycle.String); nil when it has none.
func (g *Group) LifecycleHooks() map[string]string {
	var hooks map[string]string
	for _, t := range g.Tasks {
		if t.Lifecycle != nil {
			if hooks == nil {
				hooks = map[string]string{}
			}
			hooks[t.Name] = t.Lifecycle.String()
		}
	}
	return hooks
}

// IsMain reports whether t is a main task (it has no lifecycle hook).
func (t *Task) IsMain() bool { return t.Lifecycle == nil }

// Template is a file rendered into the task's directory when the task starts, with
// Go's text/template and the functions in TemplateFuncs (Nomad's template block,
// without Consul and Vault).
type Template struct {
	Data        string `json:"EmbeddedTmpl" codec:"data"`
	Destination string `json:"DestPath" codec:"dest"` // relative to the task dir: local/... or secrets/...
	Env         bool   `json:"Envvars,omitempty" codec:"env"`
	Perms       string `json:"Perms,omitempty" codec:"perms"` // octal; default 0644
	LeftDelim   string `json:"LeftDelim,omitempty" codec:"ld"`
	RightDelim  string `json:"RightDelim,omitempty" codec:"rd"`
	ChangeMode  string `json:"ChangeMode,omitempty" codec:"cm"`
	// ChangeSignal is sent to the task when the template re-renders with new
	// content and ChangeMode is "signal".
	ChangeSignal string `json:"ChangeSignal,omitempty" codec:"csig"`
	// Splay bounds the random wait before a re-rendered template restarts or
	// signals its task, so that a change does not hit every instance at once.
	Splay time.Duration `json:"Splay,omitempty" codec:"splay"`
	// ChangeScript runs inside the task when the template re-renders with new
	// content and ChangeMode is "script".
	ChangeScript *ChangeScript `json:"ChangeScript,omitempty" codec:"cscript"`
}

// ChangeScript is a template's change_script block, as Nomad's.
type ChangeScript struct {
	Command     string        `json:"Command" codec:"cmd"`
	Args        []string      `json:"Args,omitempty" codec:"args"`
	Timeout     time.Duration `json:"Timeout" codec:"to"` // default 5s
	FailOnError bool          `json:"FailOnError,omitempty" codec:"fail"`
}

// TaskConfig is the driver configuration. The container driver uses every field;
// the exec driver uses Command and Args. The fields after WorkDir are Nomad's docker
// options of the same names.
type TaskConfig struct {
	Image      string   `json:"image,omitempty" codec:"image"`
	Command    string   `json:"command,omitempty" codec:"cmd"`
	Args       []string `json:"args,omitempty" codec:"args"`
	Entrypoint []string `json:"entrypoint,omitempty" codec:"entry"`
	Ports      []string `json:"ports,omitempty" codec:"ports"`
	WorkDir    string   `json:"work_dir,omitempty" codec:"wd"`

	ReadOnlyRootfs   bool     `json:"readonly_rootfs,omitempty" codec:"rorootfs"`
	PidsLimit        int      `json:"pids_limit,omitempty" codec:"pids"`   // 0: the peer's default
	Hostname         string   `json:"hostname,omitempty" codec:"hostname"` // over the group's network.hostname
	DNSServers       []string `json:"dns_servers,omitempty" codec:"dnss"`  // each over the group's network.dns
	DNSSearchDomains []string `json:"dns_search_domains,omitempty" codec:"dnsd"`
	DNSOptions       []string `json:"dns_options,omitempty" codec:"dnso"`
	CapAdd           []string `json:"cap_add,omitempty" codec:"capadd"`     // "net_raw", "CAP_NET_RAW"
	CapDrop          []string `json:"cap_drop,omitempty" codec:"capdrop"`   // ... or "all"
	ExtraHosts       []string `json:"extra_hosts,omitempty" codec:"xhosts"` // "name:ip" lines added to /etc/hosts
}

// Resources a task asks for. CPU is in MHz, memory in MiB as in Nomad.
type Resources struct {
	CPU         int `json:"CPU" codec:"cpu"`
	MemoryMB    int `json:"MemoryMB" codec:"mem"`
	MemoryMaxMB int `json:"MemoryMaxMB,omitempty" codec:"memmax"`
}

// Constraint restricts placement: LTarget Operand RTarget, e.g. ${attr.kernel.name} = linux.
type Constraint struct {
	LTarget string `json:"LTarget" codec:"l"`
	RTarget string `json:"RTarget" codec:"r"`
	Operand string `json:"Operand" codec:"op"`
}

// Affinity prefers (Weight > 0) or avoids (Weight < 0) peers; Weight is in [-100, 100].
type Affinity struct {
	LTarget string `json:"LTarget" codec:"l"`
	RTarget string `json:"RTarget" codec:"r"`
	Operand string `json:"Operand" codec:"op"`
	Weight  int    `json:"Weight" codec:"w"`
}

// Spread distributes allocations over the values of Attribute.
type Spread struct {
	Attribute string         `json:"Attribute" codec:"attr"`
	Weight    int            `json:"Weight" codec:"w"`
	Targets   []SpreadTarget `json:"SpreadTarget,omitempty" codec:"targets"`
}

// SpreadTarget is the share of allocations wanted where Attribute = Value.
type SpreadTarget struct {
	Value   string `json:"Value" codec:"v"`
	Percent int    `json:"Percent" codec:"pct"`
}

// RestartPolicy governs restarts in place on the same peer.
type RestartPolicy struct {
	Attempts int           `json:"Attempts" codec:"n"`
	Interval time.Duration `json:"Interval" codec:"ival"`
	Delay    time.Duration `json:"Delay" codec:"delay"`
	Mode     string        `json:"Mode" codec:"mode"` // "fail" or "delay"
}

// ReschedulePolicy governs replacing a failed allocation on another peer.
type ReschedulePolicy struct {
	Attempts      int           `json:"Attempts" codec:"n"`
	Interval      time.Duration `json:"Interval" codec:"ival"`
	Delay         time.Duration `json:"Delay" codec:"delay"`
	DelayFunction string        `json:"DelayFunction" codec:"fn"` // constant, exponential, fibonacci
	MaxDelay      time.Duration `json:"MaxDelay" codec:"max"`
	Unlimited     bool          `json:"Unlimited" codec:"unl"`
}

// Update governs how a new job version replaces running allocations.
type Update struct {
	MaxParallel      int           `json:"MaxParallel" codec:"par"`
	HealthCheck      string        `json:"HealthCheck" codec:"hc"` // checks, task_states, manual
	MinHealthyTime   time.Duration `json:"MinHealthyTime" codec:"minh"`
	HealthyDeadline  time.Duration `json:"HealthyDeadline" codec:"hdl"`
	ProgressDeadline time.Duration `json:"ProgressDeadline" codec:"pdl"`
	AutoRevert       bool          `json:"AutoRevert" codec:"rev"`
	// Canary new-version allocations run beside the old ones before a rollout
	// replaces anything; AutoPromote promotes them once all are healthy, otherwise
	// `peer job promote` does.
	Canary      int           `json:"Canary" codec:"can"`
	AutoPromote bool          `json:"AutoPromote" codec:"apro"`
	Stagger     time.Duration `json:"Stagger" codec:"stag"`
}

// Network is a group's network: its mode and the ports its tasks listen on.
type Network struct {
	Mode  string `json:"Mode" codec:"mode"` // host, bridge, none
	Ports []Port `json:"Ports,omitempty" codec:"ports"`
	// DNS, when set, is the tasks' /etc/resolv.conf in place of the host's (Nomad's
	// network.dns). Hostname is the tasks' hostname (default: the task's id); it may
	// use the task's environment, e.g. "web-${NOMAD_ALLOC_INDEX}".
	DNS      *DNS   `json:"DNS,omitempty" codec:"dns"`
	Hostname string `json:"Hostname,omitempty" codec:"hn"`
}

// DNS is a resolv.conf: nameservers (IP addresses), search domains and options.
type DNS struct {
	Servers  []string `json:"Servers,omitempty" codec:"s"`
	Searches []string `json:"Searches,omitempty" codec:"q"`
	Options  []string `json:"Options,omitempty" codec:"o"`
}

// Port is a labelled port. Static pins the host port; To is the port inside the task.
type Port struct {
	Label  string `json:"Label" codec:"label"`
	Static int    `json:"Static,omitempty" codec:"static"`
	To     int    `json:"To,omitempty" codec:"to"`
}

// Service names a port for discovery and health checking.
type Service struct {
	Name   string   `json:"Name" codec:"name"`
	Port   string   `json:"PortLabel" codec:"port"`
	Tags   []string `json:"Tags,omitempty" codec:"tags"`
	Checks []Check  `json:"Checks,omitempty" codec:"checks"`
}

// Check is a health check of a service.
type Check struct {
	Name string `json:"Name" codec:"name"`
	Type string `json:"Type" codec:"type"` // http, tcp or script
	Path string `json:"Path,omitempty" codec:"path"`
	// A script check runs Command with Args inside TaskName (the group's only task
	// when empty): exit 0 passes, 1 warns, anything else is critical.
	Command  string   `json:"Command,omitempty" codec:"cmd"`
	Args     []string `json:"Args,omitempty" codec:"args"`
	TaskName string   `json:"TaskName,omitempty" codec:"task"`
	// PortLabel, when set, checks that port instead of the service's.
	PortLabel string        `json:"PortLabel,omitempty" codec:"port"`
	Interval  time.Duration `json:"Interval" codec:"ival"`
	Timeout   time.Duration `json:"Timeout" codec:"to"`
}

// EphemeralDisk is accepted for compatibility with Nomad job files.
type EphemeralDisk struct {
	SizeMB  int  `json:"SizeMB" codec:"size"`
	Sticky  bool `json:"Sticky" codec:"sticky"`
	Migrate bool `json:"Migrate" codec:"migrate"`
}

// TotalResources is what one instance of the group needs on a peer: the sum of its tasks.
func (g *Group) TotalResources() Resources {
	var r Resources
	for _, t := range g.Tasks {
		r.CPU += t.Resources.CPU
		r.MemoryMB += t.Resources.MemoryMB
		r.MemoryMaxMB += max(t.Resources.MemoryMaxMB, t.Resources.MemoryMB)
	}
	return r
}

// HasCanaries reports whether a group's update block asks for canaries.
func (j *Job) HasCanaries() bool {
	for _, g := range j.Groups {
		if g.Update != nil && g.Update.Canary > 0 {
			return true
		}
	}
	return false
}

// LookupGroup returns the group named name, or nil.
func (j *Job) LookupGroup(name string) *Group {
	for _, g := range j.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}
