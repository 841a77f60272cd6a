package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A delay line is the packet delay the kernel cannot add when it lacks the netem qdisc: host
// i's veth is taken off the bridge and its frames are relayed through this process, those
// the host sends held for the delay. Two AF_PACKET sockets with virtio-net headers carry
// frames unchanged, GSO and partial checksums included:
//
//	host eth0 <-veth-> shv<r>h<i> [relay: host->bridge delayed] shq<r>h<i> <-veth-> shd<r>h<i> -- bridge
//
// A delayLine is owned by its Cluster; Close stops it and restores the direct link.
type delayLine struct {
	r, i     int
	hostFd   int // on shv<r>h<i>: frames from and to the host
	bridgeFd int // on shq<r>h<i>: frames from and to the bridge
	delay    time.Duration
	queue    chan frame
	stop     chan struct{}
	wg       sync.WaitGroup
}

type frame struct {
	data []byte
	due  time.Time
}

func relayOut(r, i int) string { return fmt.Sprintf("shd%dh%d", r, i) } // on the bridge
func relayIn(r, i int) string  { return fmt.Sprintf("shq%dh%d", r, i) } // read by the relay

// vnetHdrLen is sizeof(struct virtio_net_hdr), which PACKET_VNET_HDR prepends to each frame.
const vnetHdrLen = 10

// newDelayLine inserts a relay holding host i's outgoing frames for delay.
func newDelayLine(ctx context.Context, r, i int, delay time.Duration) (*delayLine, error) {
	out, in, veth := relayOut(r, i), relayIn(r, i), vethName(r, i)
	steps := [][]string{
		{"link", "add", out, "type", "veth", "peer", "name", in},
		{"link", "set", out, "master", bridgeName(r), "up"},
		{"link", "set", in, "up"},
	}
	for _, s := range steps {
		if _, err := command(ctx, "ip", s...); err != nil {
			return nil, err
		}
	}
	// The relay's interfaces carry other hosts' frames: the root namespace must neither
	// answer ARP on them (arp_ignore 8) nor speak IPv6 on them.
	for _, ifc := range []string{veth, in} {
		_ = os.WriteFile("/proc/sys/net/ipv4/conf/"+ifc+"/arp_ignore", []byte("8"), 0o644)
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+ifc+"/disable_ipv6", []byte("1"), 0o644)
	}
	d := &delayLine{r: r, i: i, delay: delay, queue: make(chan frame, 4096), stop: make(chan struct{})}
	var err error
	if d.hostFd, err = packetSocket(veth); err != nil {
		return nil, errors.Join(err, d.teardown(ctx))
	}
	if d.bridgeFd, err = packetSocket(in); err != nil {
		unix.Close(d.hostFd)
		return nil, errors.Join(err, d.teardown(ctx))
	}
	d.wg.Add(3)
	go d.pump(d.hostFd, func(b []byte) { // host -> queue (delayed)
		select {
		case d.queue <- frame{b, time.Now().Add(d.delay)}:
		default: // queue full: dropped, as an overflowing qdisc would
		}
	})
	go d.pump(d.bridgeFd, func(b []byte) { _, _ = unix.Write(d.hostFd, b) }) // bridge -> host
	go d.release()
	// Only now take the host's veth off the bridge: from here its frames go through us.
	if _, err := command(ctx, "ip", "link", "set", veth, "nomaster"); err != nil {
		return nil, errors.Join(err, d.close(ctx))
	}
	return d, nil
}

// packetSocket opens an AF_PACKET socket bound to ifname, with virtio-net headers and a
// read timeout so the relay can notice it is being stopped.
func packetSocket(ifname string) (int, error) {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	proto := int(htons(unix.ETH_P_ALL))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return -1, fmt.Errorf("packet socket on %s: %w", ifname, err)
	}
	fail := func(err error) (int, error) {
		unix.Close(fd)
		return -1, fmt.Errorf("packet socket on %s: %w", ifname, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail(err)
	}
	tv := unix.Timeval{Usec: 200000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail(err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		return fail(err)
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// pump reads frames arriving on fd (not the ones this process sends) and hands each to out.
func (d *delayLine) pump(fd int, out func([]byte)) {
	defer d.wg.Done()
	buf := make([]byte, vnetHdrLen+65536+64)
	for {
		select {
		case <-d.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // timeout (to check stop) or a transient error
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // our own write on this interface
		}
		out(append([]byte(nil), buf[:n]...))
	}
}

// release sends queued frames to the bridge once they are due. The delay is constant, so
// the queue is in due order.
func (d *delayLine) release() {
	defer d.wg.Done()
	for {
		select {
		case <-d.stop:
			return
		case f := <-d.queue:
			if wait := time.Until(f.due); wait > 0 {
				select {
				case <-d.stop:
					return
				case <-time.After(wait):
				}
			}
			_, _ = unix.Write(d.bridgeFd, f.data)
		}
	}
}

// close restores the host's direct link to the bridge and removes the relay.
func (d *delayLine) close(ctx context.Context) error {
	_, err := command(ctx, "ip", "link", "set", vethName(d.r, d.i), "master", bridgeName(d.r))
	close(d.stop)
	d.wg.Wait()
	unix.Close(d.hostFd)
	unix.Close(d.bridgeFd)
	return errors.Join(err, d.teardown(ctx))
}

func (d *delayLine) teardown(ctx context.Context) error {
	if !linkExists(relayOut(d.r, d.i)) {
		return nil
	}
	_, err := command(ctx, "ip", "link", "del", relayOut(d.r, d.i)) // removes its peer too
	return err
}
