package jobspec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	// Time zones are resolved the same way on every peer, whatever the host has
	// installed: a periodic job's ticks must not depend on which peer coordinates it.
	_ "time/tzdata"

	"github.com/hashicorp/cronexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Periodic is Nomad's periodic block: the job is a parent that never runs
// allocations itself; at each tick of any of its cron expressions, evaluated in
// TimeZone, the cluster launches a child batch job named ChildID(parent, tick).
// Expressions are github.com/hashicorp/cronexpr's (Nomad's): 5 fields (minute to
// day of week), 6 (plus year) or 7 (seconds first, year last), or @hourly, @daily,
// @weekly, @monthly, @yearly.
type Periodic struct {
	Specs []string `json:"Specs" codec:"specs"`
	// Enabled false keeps the job but launches nothing (nil means true: a JSON job may
	// leave it out; Canonicalize sets it).
	Enabled *bool `json:"Enabled" codec:"enabled"`
	// ProhibitOverlap skips a tick while a child launched earlier is still pending
	// or running.
	ProhibitOverlap bool `json:"ProhibitOverlap" codec:"overlap"`
	// TimeZone is an IANA zone name (time.LoadLocation); default "UTC".
	TimeZone string `json:"TimeZone" codec:"tz"`
}

// IsEnabled reports whether the job launches children on its own.
func (p *Periodic) IsEnabled() bool { return p != nil && (p.Enabled == nil || *p.Enabled) }

// Next returns the first tick strictly after from of any of p's expressions, in
// p's time zone, or the zero time when there is none (or p does not validate).
func (p *Periodic) Next(from time.Time) time.Time {
	loc, err := time.LoadLocation(p.zone())
	if err != nil {
		return time.Time{}
	}
	var next time.Time
	for _, s := range p.Specs {
		e, err := cronexpr.Parse(s)
		if err != nil {
			return time.Time{}
		}
		t := e.Next(from.In(loc))
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

func (p *Periodic) zone() string {
	if p.TimeZone == "" {
		return "UTC"
	}
	return p.TimeZone
}

// periodicInfix separates a parent's id from a child's launch time, as in Nomad.
const periodicInfix = "/periodic-"

// ChildID names the child a periodic parent launches for tick: "<parent>/periodic-<unix
// seconds>", as Nomad names them. The name is a function of the tick alone, so two
// peers that both launch the same tick write the same job, not two.
func ChildID(parent string, tick time.Time) string {
	return parent + periodicInfix + strconv.FormatInt(tick.Unix(), 10)
}

// ParseChildID splits a child's id into its parent and its launch time; ok is false
// for an id that is not a periodic child's.
func ParseChildID(id string) (parent string, tick time.Time, ok bool) {
	i := strings.LastIndex(id, periodicInfix)
	if i <= 0 {
		return "", time.Time{}, false
	}
	sec, err := strconv.ParseInt(id[i+len(periodicInfix):], 10, 64)
	if err != nil || sec < 0 {
		return "", time.Time{}, false
	}
	return id[:i], time.Unix(sec, 0).UTC(), true
}

// Child returns the job a periodic parent launches for tick: the parent's spec
// without its periodic block, named ChildID, with ParentID set and version 0.
func (j *Job) Child(tick time.Time) *Job {
	c := *j
	c.ID = ChildID(j.ID, tick)
	c.Name = c.ID
	c.ParentID = j.ID
	c.Periodic = nil
	c.Version = 0
	return &c
}

var periodicSpec = spec{attrs: []string{"crons", "cron", "prohibit_overlap", "time_zone", "enabled"}}

// periodic decodes the periodic block.
func (p *parser) periodic(blk *hclsyntax.Block) *Periodic {
	const sub = "periodic."
	p.record("periodic", blk.DefRange())
	b := blk.Body
	p.checkBody(b, "", sub, periodicSpec)
	enabled := true
	pc := &Periodic{Enabled: &enabled, TimeZone: "UTC"}
	p.strList(b, "", sub, "crons", &pc.Specs)
	var cron string
	if p.str(b, "", sub, "cron", &cron) {
		if a := b.Attributes["crons"]; a != nil {
			p.errAt(b.Attributes["cron"].NameRange, "periodic.cron", cron,
				"set either cron or crons, not both (crons is at line %d; cron is Nomad's older form of a one-element crons)", a.NameRange.Start.Line)
			p.reported["periodic.crons"] = true
		} else {
			pc.Specs = []string{cron}
			p.record("periodic.crons", b.Attributes["cron"].Expr.Range())
		}
	}
	p.boolean(b, "", sub, "prohibit_overlap", &pc.ProhibitOverlap)
	p.str(b, "", sub, "time_zone", &pc.TimeZone)
	p.boolean(b, "", sub, "enabled", pc.Enabled)
	return pc
}

// canonicalize fills in what a JSON job may leave out.
func (p *Periodic) canonicalize() {
	if p.Enabled == nil {
		t := true
		p.Enabled = &t
	}
	if p.TimeZone == "" {
		p.TimeZone = "UTC"
	}
}

// periodic validates a periodic block and that the job may have one.
func (v *validator) periodic(j *Job) {
	pc := j.Periodic
	if pc == nil {
		return
	}
	if j.Type != TypeBatch && contains(jobTypes, j.Type) { // an unknown type is reported as such
		v.errf("periodic", j.Type, "a periodic job must be of type %q, not %q: only batch jobs run to completion at each tick (Nomad's sysbatch is not supported)", TypeBatch, j.Type)
	}
	if j.ParentID != "" {
		v.errf("periodic", j.ParentID, "a periodic child (parent %q) cannot itself be periodic", j.ParentID)
	}
	if len(pc.Specs) == 0 {
		v.errf("periodic.crons", "", `no cron expression; set crons = ["*/15 * * * *"] (minute hour day-of-month month day-of-week)`)
	}
	for i, s := range pc.Specs {
		f := fmt.Sprintf("periodic.crons[%d]", i)
		e, err := cronexpr.Parse(s)
		switch {
		case err != nil:
			v.errf(f, s, "cron expression %q does not parse: %v; accepted: 5 fields (minute hour day-of-month month day-of-week), 6 (plus year), 7 (second first, year last), or @hourly, @daily, @weekly, @monthly, @yearly", s, err)
		case e.Next(time.Now()).IsZero():
			v.errf(f, s, "cron expression %q never fires from now on", s)
		}
	}
	const zones = `an IANA name such as "UTC", "Europe/Berlin" or "America/New_York"`
	if strings.EqualFold(pc.TimeZone, "local") {
		v.errf("periodic.time_zone", pc.TimeZone, "time zone %q is each peer's own, and peers may differ; accepted: %s", pc.TimeZone, zones)
	} else if _, err := time.LoadLocation(pc.zone()); err != nil {
		v.errf("periodic.time_zone", pc.TimeZone, "unknown time zone %q; accepted: %s", pc.TimeZone, zones)
	}
}
