// Package api holds the JSON shapes of a peer's HTTP API (Nomad-shaped) and a small
// client for them. The peer serves these types; `peer` CLI commands and tests read them.
// It imports only jobspec.
package api

import (
	"time"

	"github.com/shoal-sched/shoal/jobspec"
)

// JobListStub is one row of GET /v1/jobs.
type JobListStub struct {
	ID      string
	Name    string
	Type    string
	Status  string // pending, running, dead
	Version uint64
	Stop    bool
	// Periodic: a periodic parent, which launches children and runs nothing itself.
	Periodic bool `json:",omitempty"`
	// ParentID is the periodic parent of a child job.
	ParentID string `json:",omitempty"`
	// SubmitTime is when this version was submitted (a child: launched).
	SubmitTime time.Time `json:",omitzero"`
	// Summary counts allocations by client status over the whole cluster.
	Summary map[string]int `json:",omitempty"`
}

// JobRegisterRequest is the body of POST/PUT /v1/jobs: either a parsed Job, or HCL
// source with variables for the peer to parse.
type JobRegisterRequest struct {
	Job       *jobspec.Job      `json:"Job,omitempty"`
	JobHCL    string            `json:"JobHCL,omitempty"`
	Variables map[string]string `json:"Variables,omitempty"`
}

// JobRegisterResponse answers a submit with the version the cluster assigned.
type JobRegisterResponse struct {
	JobID   string
	Version uint64
}

// ServiceStub is one service in GET /v1/services.
type ServiceStub struct {
	ServiceName string
	Tags        []string `json:",omitempty"` // every instance's tags, together
	Instances   int
	Passing     int // instances whose checks all pass
}

// ServiceRegistration is one instance of a service (GET /v1/service/<name>): a
// running allocation's service block, at its host address and mapped port.
type ServiceRegistration struct {
	ID          string
	ServiceName string
	JobID       string
	AllocID     string
	NodeID      string
	NodeName    string
	Tags        []string `json:",omitempty"`
	Address     string
	Port        int
	Health      string `json:",omitempty"` // passing, critical, or empty without checks
}

// JobPlan answers POST /v1/job/<id>/plan: what submitting the job would do.
type JobPlan struct {
	JobID          string
	Exists         bool        // a version of the job is already in the cluster
	CurrentVersion uint64      // its version, when Exists
	Version        uint64      // the version the submission would get (CurrentVersion: no change)
	Groups         []GroupPlan `json:",omitempty"` // empty when nothing would change
	// NextPeriodicLaunch: the job is periodic (it places nothing itself) and would
	// launch its first child then (zero when disabled).
	NextPeriodicLaunch time.Time `json:",omitzero"`
}

// GroupPlan is what a submission would do to one task group (placement.GroupPlan).
type GroupPlan struct {
	Group   string
	Create  int
	Destroy int
	Update  int
	Ignore  int
	Canary  int
	// Unplaced says why slots would not be placed (a dry-run auction over every
	// peer as the cluster is now), one line per reason.
	Unplaced []string `json:",omitempty"`
}

// Job is GET /v1/job/<id>: the job as submitted plus its cluster state.
type Job struct {
	*jobspec.Job
	Stop   bool
	Status string
	// PlacementFailures says why slots could not be placed in the coordinator's last
	// pass (empty when everything is placed).
	PlacementFailures []string `json:",omitempty"`
	// Deployment says where a canary rollout of the current version stands (canaries
	// healthy, waiting for promotion), one line per group; empty when none is under way.
	Deployment []string `json:",omitempty"`
	// RevertedFrom: this version is the last stable one, resubmitted by auto_revert
	// after the rollout of version RevertedFrom failed.
	RevertedFrom uint64 `json:",omitempty"`
	// Stable: this version fully rolled out (every slot runs it, healthy); auto_revert
	// goes back to the last stable version.
	Stable bool
	// NextLaunch is when a periodic parent launches its next child (zero when it
	// launches none: stopped or disabled).
	NextLaunch time.Time `json:",omitzero"`
	// Children are the jobs a periodic parent launched, oldest first.
	Children []JobListStub `json:",omitempty"`
}

// PeriodicForceResponse is POST /v1/job/<id>/periodic/force: the child launched.
type PeriodicForceResponse struct {
	JobID string // the child's id, <parent>/periodic-<unix seconds>
}

// Alloc is one allocation as GET /v1/job/<id>/allocations and /v1/allocation/<id> show it.
type Alloc struct {
	ID                 string
	JobID              string
	TaskGroup          string
	Index              int
	Slot               string // job/group[index]
	NodeID             string
	NodeName           string
	ClientStatus       string // pending, running, complete, failed, lost
	DesiredStatus      string // run, stop
	ClientDescription  string `json:",omitempty"`
	DesiredDescription string `json:",omitempty"`
	JobVersion         uint64
	Canary             bool `json:",omitempty"` // a canary of its version, beside the slot's old allocation until promoted
	CreateTime         time.Time
	ModifyTime         time.Time
	RestartCount       int
	PreviousAlloc      string               `json:",omitempty"`
	TaskStates         map[string]TaskState `json:",omitempty"`
	Ports              []Port               `json:",omitempty"` // the group's network ports on the peer
	NetworkMode        string               `json:",omitempty"` // "bridge", or empty for the host's network
	AllocIP            string               `json:",omitempty"` // bridge mode: the allocation's own address on its peer's bridge
	Checks             []CheckStatus        `json:",omitempty"` // the group's service checks, by service and name
	// TaskLifecycles are the lifecycle hooks of the tasks as the allocation's job
	// version has them (task -> "prestart", "prestart sidecar", "poststart",
	// "poststart sidecar" or "poststop"); main tasks are absent.
	TaskLifecycles map[string]string `json:",omitempty"`
}

// CheckStatus is the last status change of one service check of an allocation.
type CheckStatus struct {
	Service string
	Name    string
	Type    string // http or tcp
	Status  string // passing or critical
	Output  string
	Since   time.Time
}

// Port is one labelled port of an allocation: Value is the port on HostIP that
// reaches the task; in bridge mode To is the port inside the allocation that it
// maps to.
type Port struct {
	Label  string
	Value  int
	HostIP string
	To     int `json:",omitempty"`
}

// TaskState is one task of an allocation as its peer last reported it.
type TaskState struct {
	State      string // pending, running, dead
	Failed     bool
	Restarts   int
	ExitCode   int
	StartedAt  time.Time `json:",omitempty"`
	FinishedAt time.Time `json:",omitempty"`
	Message    string    `json:",omitempty"`
}

// Node is one peer as GET /v1/nodes and /v1/node/<id> show it.
type Node struct {
	ID                    string
	Name                  string
	Address               string
	HTTPAddr              string `json:",omitempty"`
	Datacenter            string
	Class                 string `json:",omitempty"`
	Status                string // ready, down, left
	SchedulingEligibility string // eligible, ineligible
	Drain                 bool
	CPUTotal              int
	CPUFree               int
	MemoryTotalMB         int
	MemoryFreeMB          int
	Attributes            map[string]string     `json:",omitempty"`
	Meta                  map[string]string     `json:",omitempty"`
	HostVolumes           map[string]HostVolume `json:",omitempty"` // by name, as the peer's host_volume blocks declare them
	Allocs                int                   // running allocations on it
}

// HostVolume is a directory a peer offers to jobs' volume blocks (Nomad's
// ClientHostVolumeConfig).
type HostVolume struct {
	Name     string
	Path     string
	ReadOnly bool
}

// ScaleRequest is the body of POST /v1/job/<id>/scale.
type ScaleRequest struct {
	Group string
	Count int
}

// DrainRequest is the body of POST /v1/node/<id>/drain.
type DrainRequest struct{ Enable bool }

// EligibilityRequest is the body of POST /v1/node/<id>/eligibility.
type EligibilityRequest struct{ Eligible bool }

// AllocRestartRequest is the body of POST /v1/client/allocation/<id>/restart, as
// Nomad's: TaskName restarts one task; empty (or AllTasks) restarts every running one.
type AllocRestartRequest struct {
	TaskName string `json:",omitempty"`
	AllTasks bool   `json:",omitempty"`
}

// ExecFrame is one line of the answer to POST /v1/client/allocation/<id>/exec: a
// piece of the command's stdout or stderr, or, last, its exit code (the shape of
// Nomad's exec stream frames, one JSON object per line). Error, last instead of an
// exit code, says why the exec ended without one after it started (bad input).
type ExecFrame struct {
	Stdout *ExecData   `json:"stdout,omitempty"`
	Stderr *ExecData   `json:"stderr,omitempty"`
	Exited bool        `json:"exited,omitempty"`
	Result *ExecResult `json:"result,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// ExecInput is one line of the request body of POST
// /v1/client/allocation/<id>/exec?tty=true: a piece of what is typed, or the
// terminal's new size (Nomad's exec input frames, one JSON object per line).
type ExecInput struct {
	Stdin   *ExecData `json:"stdin,omitempty"`
	TTYSize *TTYSize  `json:"tty_size,omitempty"`
}

// TTYSize is the size of a terminal, in characters.
type TTYSize struct {
	Height uint16 `json:"height"`
	Width  uint16 `json:"width"`
}

// ExecData is a piece of an exec'd command's output, or of what is typed into its
// terminal.
type ExecData struct {
	Data []byte `json:"data"` // base64 in JSON
}

// ExecResult is how an exec'd command ended.
type ExecResult struct {
	ExitCode int `json:"exit_code"`
}

// AllocSignalRequest is the body of POST /v1/client/allocation/<id>/signal, as
// Nomad's: Signal ("SIGHUP", "SIGUSR1", ...) goes to Task, or to every running task.
type AllocSignalRequest struct {
	Task   string `json:",omitempty"`
	Signal string
}

// AgentSelf is GET /v1/agent/self.
type AgentSelf struct {
	Name       string
	NodeID     string
	Version    string
	Datacenter string
	Address    string
	HTTPAddr   string
	Members    int
	Jobs       int
	Allocs     int // this peer's own
}

// Member is one row of GET /v1/agent/members (`peer members`).
type Member struct {
	Name   string
	ID     string
	Addr   string
	Status string // alive, failed, left
	DC     string
}
