package jobspec

import (
	"fmt"
	"path"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Volume types. Shoal mounts host volumes only: a directory a peer's config names
// (host_volume "name" { path = ... }), as Nomad's client host_volume.
const (
	VolumeTypeHost = "host"
	VolumeTypeCSI  = "csi"
)

// Propagation modes of a volume_mount, as Nomad's: private (the default) sees no mount
// made later on either side, host-to-task sees the host's new mounts under the volume,
// bidirectional also shows the task's mounts to the host.
const (
	PropagationPrivate       = "private"
	PropagationHostToTask    = "host-to-task"
	PropagationBidirectional = "bidirectional"
)

var (
	volumeTypes      = []string{VolumeTypeHost}
	propagationModes = []string{PropagationPrivate, PropagationHostToTask, PropagationBidirectional}
)

// VolumeRequest is a group's volume block: a volume the group needs on its peer, under
// a label its tasks' volume_mount blocks name. A peer without the host volume Source
// (or with it read-only when the request is not) cannot take the group.
type VolumeRequest struct {
	Name     string `json:"Name" codec:"name"` // the block's label
	Type     string `json:"Type" codec:"type"` // VolumeTypeHost
	Source   string `json:"Source" codec:"src"`
	ReadOnly bool   `json:"ReadOnly" codec:"ro"`
}

// VolumeMount mounts a group's volume into a task at Destination (an absolute path
// inside the task's root). It is read-only when it, or its volume, says so.
type VolumeMount struct {
	Volume          string `json:"Volume" codec:"vol"`
	Destination     string `json:"Destination" codec:"dest"`
	ReadOnly        bool   `json:"ReadOnly" codec:"ro"`
	PropagationMode string `json:"PropagationMode" codec:"prop"` // private, host-to-task, bidirectional
}

// whyCSI is the warning for settings that only CSI (or dynamic host) volumes use.
const whyCSI = "applies to CSI and dynamic host volumes, which Shoal does not support; a host volume is mounted as the peer's config declares it"

var volumeSpec = spec{
	attrs: []string{"type", "source", "read_only"},
	ignored: map[string]string{"access_mode": whyCSI, "attachment_mode": whyCSI, "per_alloc": whyCSI,
		"mount_options": whyCSI, "sticky": whyCSI, "capability": whyCSI},
}

var volumeMountSpec = spec{
	attrs:   []string{"volume", "destination", "read_only", "propagation_mode"},
	ignored: map[string]string{"selinux_label": "SELinux labels are not applied"},
}

// volumes decodes a group's volume blocks.
func (p *parser) volumes(b *hclsyntax.Body, path string) map[string]VolumeRequest {
	var out map[string]VolumeRequest
	for _, blk := range blocks(b, "volume") {
		if !p.labels(blk, field(path, "volume"), 1, `volume "data" { type = "host" source = "data" }`) {
			continue
		}
		v := VolumeRequest{Name: blk.Labels[0]}
		sub := fmt.Sprintf("volume %s.", quote(v.Name))
		f := field(path, sub[:len(sub)-1])
		p.record(f, blk.DefRange())
		if _, dup := out[v.Name]; dup {
			p.errAt(blk.DefRange(), f, v.Name, "volume %q is declared more than once in the group; volume labels must be unique", v.Name)
			continue
		}
		p.checkBody(blk.Body, path, sub, volumeSpec)
		p.str(blk.Body, path, sub, "type", &v.Type)
		p.str(blk.Body, path, sub, "source", &v.Source)
		p.boolean(blk.Body, path, sub, "read_only", &v.ReadOnly)
		if out == nil {
			out = map[string]VolumeRequest{}
		}
		out[v.Name] = v
	}
	return out
}

// volumeMount decodes a task's i-th volume_mount block.
func (p *parser) volumeMount(blk *hclsyntax.Block, path string, i int) VolumeMount {
	sub := fmt.Sprintf("volume_mount[%d].", i)
	p.record(field(path, sub[:len(sub)-1]), blk.DefRange())
	var m VolumeMount // Canonicalize defaults PropagationMode
	p.checkBody(blk.Body, path, sub, volumeMountSpec)
	p.str(blk.Body, path, sub, "volume", &m.Volume)
	p.str(blk.Body, path, sub, "destination", &m.Destination)
	p.boolean(blk.Body, path, sub, "read_only", &m.ReadOnly)
	p.str(blk.Body, path, sub, "propagation_mode", &m.PropagationMode)
	return m
}

// volumes checks a group's volume requests.
func (v *validator) volumes(gpath string, vols map[string]VolumeRequest) {
	for _, label := range sortedKeys(vols) {
		r := vols[label]
		f := func(name string) string { return field(gpath, "volume "+quote(label)+"."+name) }
		if !idRE.MatchString(label) {
			v.errf(field(gpath, "volume "+quote(label)), label, "volume label %q has characters other than %s", label, idChars)
		}
		if r.Name != label {
			v.errf(f("name"), r.Name, "volume name %q differs from its label %q; leave it out or make them equal", r.Name, label)
		}
		switch r.Type {
		case VolumeTypeHost:
		case VolumeTypeCSI:
			v.errf(f("type"), quote(r.Type), "CSI volumes are not supported; accepted: \"host\" (a directory a peer's config declares with host_volume)")
		case "":
			v.errf(f("type"), "", "the volume needs a type; accepted: \"host\"")
		default:
			v.oneOf(f("type"), "volume type", r.Type, volumeTypes)
		}
		if r.Source == "" {
			v.errf(f("source"), "", "the volume needs a source: the name of a host_volume in the peers' config, e.g. source = %q", label)
		}
	}
}

// volumeMounts checks a task's volume_mount blocks against its group's volumes.
func (v *validator) volumeMounts(g *Group, taskPath string, ms []VolumeMount) {
	seen := map[string]bool{}
	for i, m := range ms {
		f := func(name string) string { return field(taskPath, fmt.Sprintf("volume_mount[%d].%s", i, name)) }
		switch _, ok := g.Volumes[m.Volume]; {
		case m.Volume == "":
			v.errf(f("volume"), "", "the volume_mount needs a volume: the label of one of the group's volume blocks%s", volumeLabels(g))
		case !ok:
			known := sortedKeys(g.Volumes)
			if len(known) == 0 {
				v.errf(f("volume"), quote(m.Volume), "group %q has no volume %q; add volume %q { type = \"host\" source = \"NAME\" } to the group", g.Name, m.Volume, m.Volume)
			} else {
				v.errf(f("volume"), quote(m.Volume), "group %q has no volume %q; accepted: %s%s", g.Name, m.Volume, acceptedList(known), suggest(m.Volume, known))
			}
		}
		dest := path.Clean(m.Destination)
		switch {
		case m.Destination == "":
			v.errf(f("destination"), "", "the volume_mount needs a destination, an absolute path in the task, e.g. destination = \"/srv/data\"")
		case !path.IsAbs(m.Destination):
			v.errf(f("destination"), quote(m.Destination), "want an absolute path in the task, e.g. \"/%s\"", strings.TrimPrefix(dest, "./"))
		case dest == "/" || hasDotDot(m.Destination):
			v.errf(f("destination"), quote(m.Destination), "want a directory below / without \"..\", e.g. \"/srv/data\"")
		case under(dest, "/proc", "/sys", "/dev"):
			v.errf(f("destination"), quote(m.Destination), "%s is the container's own; choose a destination outside /proc, /sys and /dev", dest)
		case dest == "/alloc" || dest == "/local" || dest == "/secrets":
			v.errf(f("destination"), quote(m.Destination), "%s is one of the task's own directories and a volume would hide it; mount below it (e.g. %s/data) or elsewhere", dest, dest)
		case seen[dest]:
			v.errf(f("destination"), quote(m.Destination), "another volume_mount of the task already mounts at %s", dest)
		}
		seen[dest] = true
		v.oneOf(f("propagation_mode"), "propagation_mode", m.PropagationMode, propagationModes)
	}
}

// volumeLabels is "; accepted: ..." listing g's volume labels, or a hint to add one.
func volumeLabels(g *Group) string {
	if len(g.Volumes) == 0 {
		return fmt.Sprintf("; group %q has none: add volume \"data\" { type = \"host\" source = \"NAME\" }", g.Name)
	}
	return "; accepted: " + acceptedList(sortedKeys(g.Volumes))
}

func hasDotDot(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return true
		}
	}
	return false
}

// under reports whether p is one of dirs or below one.
func under(p string, dirs ...string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// ReadOnlyIn reports whether m mounts its volume read-only: in group g: when it says so or
// its volume request does.
func (m VolumeMount) ReadOnlyIn(g *Group) bool {
	return m.ReadOnly || g.Volumes[m.Volume].ReadOnly
}
