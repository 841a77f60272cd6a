package gossip

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/hashicorp/go-msgpack/v2/codec"
)

// The RPC wire protocol.
//
// A connection starts with a handshake:
//
//	client -> server: "SHRP" version(1) flags(1: bit0 = has key) nonceC(16)
//	server -> client: "SHRP" version(1) status(1) nonceS(16)
//
// When both sides hold a key, the client proves it holds one of the server's keys
// with HMAC-SHA256(primary, "client"|nonceC|nonceS); the server answers with a
// status byte and its own proof with the same key; both then derive a session key
// HMAC-SHA256(key, "session"|nonceC|nonceS) and seal every frame with AES-256-GCM
// (nonce = direction byte + frame counter). Frames are a 4-byte big-endian length
// and a msgpack body, at most RPCMaxMessage bytes.
const (
	rpcMagic      = "SHRP"
	rpcVersion    = 1
	nonceLen      = 16
	proofLen      = sha256.Size
	frameOverhead = 16 // GCM tag
)

// handshake status codes
const (
	hsOK byte = iota
	hsVersion
	hsKeyRequired
	hsNoKey
	hsBadKey
)

// Errors callers may branch on.
var (
	// ErrProtocolVersion: the remote peer speaks another RPC protocol version.
	ErrProtocolVersion = errors.New("rpc protocol version mismatch")
	// ErrAuth: the remote peer does not share our encryption key.
	ErrAuth = errors.New("rpc authentication failed (encryption key mismatch?)")
	// ErrTooLarge: a payload exceeds its limit (RPC frame, user event, query, tags).
	ErrTooLarge = errors.New("payload too large")
	// ErrUnknownPeer: no live member has that name (or it advertises no RPC address).
	ErrUnknownPeer = errors.New("unknown peer")
	// ErrShutdown: the peer was shut down or left.
	ErrShutdown = errors.New("gossip peer is shut down")
)

var msgpackHandle = func() *codec.MsgpackHandle {
	h := &codec.MsgpackHandle{}
	h.WriteExt = true
	h.RawToString = true
	return h
}()

// Encode encodes v with the msgpack handle the RPC uses.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := codec.NewEncoder(&buf, msgpackHandle).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode decodes msgpack b into v (a pointer).
func Decode(b []byte, v any) error {
	return codec.NewDecoderBytes(b, msgpackHandle).Decode(v)
}

// wireConn is one handshaken RPC connection.
type wireConn struct {
	net.Conn
	r        *bufio.Reader
	w        *bufio.Writer
	aead     cipher.AEAD
	sendDir  byte
	sendCtr  uint64
	recvCtr  uint64
	maxFrame int
	buf      []byte
}

func newWireConn(c net.Conn, maxFrame int) *wireConn {
	return &wireConn{Conn: c, r: bufio.NewReaderSize(c, 4<<10), w: bufio.NewWriterSize(c, 4<<10), maxFrame: maxFrame}
}

func (c *wireConn) nonce(dir byte, ctr uint64) []byte {
	n := make([]byte, 12)
	n[0] = dir
	binary.BigEndian.PutUint64(n[4:], ctr)
	return n
}

// writeFrame sends one frame.
func (c *wireConn) writeFrame(p []byte) error {
	if len(p) > c.maxFrame {
		return fmt.Errorf("%w: rpc message of %d bytes exceeds the limit of %d bytes", ErrTooLarge, len(p), c.maxFrame)
	}
	if c.aead != nil {
		p = c.aead.Seal(nil, c.nonce(c.sendDir, c.sendCtr), p, nil)
		c.sendCtr++
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(p)))
	if _, err := c.w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := c.w.Write(p); err != nil {
		return err
	}
	return c.w.Flush()
}

// readFrame reads one frame; the result is valid until the next readFrame.
func (c *wireConn) readFrame() ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	limit := c.maxFrame
	if c.aead != nil {
		limit += frameOverhead
	}
	if n > limit {
		return nil, fmt.Errorf("%w: incoming rpc frame of %d bytes exceeds the limit of %d bytes", ErrTooLarge, n, c.maxFrame)
	}
	if cap(c.buf) < n {
		c.buf = make([]byte, n)
	}
	b := c.buf[:n]
	if _, err := io.ReadFull(c.r, b); err != nil {
		return nil, err
	}
	if c.aead == nil {
		return b, nil
	}
	plain, err := c.aead.Open(b[:0], c.nonce(1-c.sendDir, c.recvCtr), b, nil)
	if err != nil {
		return nil, fmt.Errorf("rpc frame failed authentication: %w", err)
	}
	c.recvCtr++
	return plain, nil
}

func randomNonce() []byte {
	b := make([]byte, nonceLen)
	_, _ = rand.Read(b)
	return b
}

func mac(key []byte, label string, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(label))
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func (c *wireConn) startSession(key, nc, ns []byte, dir byte) error {
	block, err := aes.NewCipher(mac(key, "session", nc, ns))
	if err != nil {
		return err
	}
	c.aead, err = cipher.NewGCM(block)
	c.sendDir = dir
	return err
}

// clientHandshake runs the client side. keys[0] is the primary key (nil = none).
func (c *wireConn) clientHandshake(version byte, keys [][]byte, remote string) error {
	nc := randomNonce()
	hello := append([]byte(rpcMagic), version, 0)
	if len(keys) > 0 {
		hello[5] = 1
	}
	hello = append(hello, nc...)
	if _, err := c.w.Write(hello); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	reply := make([]byte, 6+nonceLen)
	if _, err := io.ReadFull(c.r, reply); err != nil {
		return fmt.Errorf("rpc handshake with %s: %w (is it a Shoal RPC port?)", remote, err)
	}
	if string(reply[:4]) != rpcMagic {
		return fmt.Errorf("rpc handshake with %s: not a Shoal RPC endpoint (got %q)", remote, reply[:4])
	}
	switch reply[5] {
	case hsOK:
	case hsVersion:
		return fmt.Errorf("%w: peer at %s speaks version %d, we speak %d", ErrProtocolVersion, remote, reply[4], version)
	case hsKeyRequired:
		return fmt.Errorf("%w: peer at %s requires an encryption key and we have none", ErrAuth, remote)
	case hsNoKey:
		return fmt.Errorf("%w: we have an encryption key and peer at %s has none", ErrAuth, remote)
	default:
		return fmt.Errorf("rpc handshake with %s: unknown status %d", remote, reply[5])
	}
	if len(keys) == 0 {
		return nil
	}
	ns := reply[6:]
	if _, err := c.w.Write(mac(keys[0], "client", nc, ns)); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	ans := make([]byte, 1+proofLen)
	if _, err := io.ReadFull(c.r, ans); err != nil {
		return fmt.Errorf("%w: peer at %s closed the handshake: %v", ErrAuth, remote, err)
	}
	if ans[0] != hsOK || !hmac.Equal(ans[1:], mac(keys[0], "server", nc, ns)) {
		return fmt.Errorf("%w: peer at %s does not hold our primary key", ErrAuth, remote)
	}
	return c.startSession(keys[0], nc, ns, 0)
}

// serverHandshake runs the server side; it accepts any installed key.
func (c *wireConn) serverHandshake(version byte, keys [][]byte) error {
	hello := make([]byte, 6+nonceLen)
	if _, err := io.ReadFull(c.r, hello); err != nil {
		return err
	}
	if string(hello[:4]) != rpcMagic {
		return fmt.Errorf("not a Shoal RPC client (got %q)", hello[:4])
	}
	ns := randomNonce()
	status := hsOK
	clientKeyed := hello[5]&1 == 1
	switch {
	case hello[4] != version:
		status = hsVersion
	case len(keys) > 0 && !clientKeyed:
		status = hsKeyRequired
	case len(keys) == 0 && clientKeyed:
		status = hsNoKey
	}
	reply := append(append([]byte(rpcMagic), version, status), ns...)
	if _, err := c.w.Write(reply); err != nil {
		return err
	}
	if err := c.w.Flush(); err != nil {
		return err
	}
	switch status {
	case hsVersion:
		return fmt.Errorf("%w: client speaks version %d, we speak %d", ErrProtocolVersion, hello[4], version)
	case hsKeyRequired:
		return fmt.Errorf("%w: client has no encryption key", ErrAuth)
	case hsNoKey:
		return fmt.Errorf("%w: client has an encryption key and we have none", ErrAuth)
	}
	if len(keys) == 0 {
		return nil
	}
	nc := hello[6:]
	proof := make([]byte, proofLen)
	if _, err := io.ReadFull(c.r, proof); err != nil {
		return err
	}
	for _, k := range keys {
		if hmac.Equal(proof, mac(k, "client", nc, ns)) {
			if _, err := c.w.Write(append([]byte{hsOK}, mac(k, "server", nc, ns)...)); err != nil {
				return err
			}
			if err := c.w.Flush(); err != nil {
				return err
			}
			return c.startSession(k, nc, ns, 1)
		}
	}
	_, _ = c.w.Write(append([]byte{hsBadKey}, make([]byte, proofLen)...))
	_ = c.w.Flush()
	return fmt.Errorf("%w: client proved no key we hold", ErrAuth)
}
